// What the engine needs from a browser (page or Web Worker).

// setTimeout(0) is clamped to 4 ms once nested; a MessageChannel round trip is not.
const channel = typeof MessageChannel !== 'undefined' ? new MessageChannel() : null;
const waiting = [];
if (channel) channel.port1.onmessage = () => waiting.shift()?.();

export const browserPlatform = {
  isNode: false,
  yieldNow() {
    if (!channel) return new Promise((resolve) => setTimeout(resolve, 0));
    return new Promise((resolve) => {
      waiting.push(resolve);
      channel.port2.postMessage(0);
    });
  },
};
