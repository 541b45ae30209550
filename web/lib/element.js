// <lm-story>: a story written in the reader's browser, for any static page.
//
//   <script type="module" src="https://…/lm-wasm/web/lib/element.js"></script>
//   <lm-story model="./models/story/" prompt="Once upon a time" max-tokens="200"></lm-story>
//
// Attributes: model (base URL or Hugging Face repo id; required), prompt,
// max-tokens, temperature, top-k, top-p, repetition-penalty, seed, stop,
// manual (do not start on its own). Methods: generate(), stop(). Events:
// "lm-token" (detail: chunk), "lm-done" (detail: result), "lm-error"
// (detail: error). Style it with ::part(text) and ::part(status).
// Elements showing the same model share one loaded copy.
import { loadModel } from './index.js';

const models = new Map(); // model attribute -> Promise<LmModel>

function sharedModel(source, onProgress) {
  if (!models.has(source)) {
    const loading = loadModel(source, { onProgress });
    models.set(source, loading);
    loading.catch(() => models.delete(source)); // a later element may retry
  }
  return models.get(source);
}

// A constructed stylesheet, not a <style> element: it works under a strict
// Content-Security-Policy (no 'unsafe-inline' for styles).
let sheet = null;
function elementSheet() {
  if (!sheet) {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(`
      :host { display: block; font: inherit; line-height: 1.6; }
      [part=text] { white-space: pre-wrap; overflow-wrap: anywhere; }
      [part=status] { font-size: 0.85em; opacity: 0.7; }
      [part=status]:empty { display: none; }`);
  }
  return sheet;
}

export class LmStoryElement extends HTMLElement {
  static observedAttributes = ['model', 'prompt'];
  #controller = null;
  #text;
  #status;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.adoptedStyleSheets = [elementSheet()];
    this.#text = document.createElement('div');
    this.#text.setAttribute('part', 'text');
    this.#text.setAttribute('aria-live', 'polite');
    this.#status = document.createElement('div');
    this.#status.setAttribute('part', 'status');
    this.#status.setAttribute('role', 'status');
    root.append(this.#text, this.#status); // model output only ever goes in as text
  }

  connectedCallback() {
    if (!this.hasAttribute('manual')) queueMicrotask(() => this.isConnected && this.generate().catch(() => {}));
  }

  disconnectedCallback() {
    this.stop();
  }

  attributeChangedCallback(name, before, after) {
    if (before !== null && before !== after && this.isConnected && !this.hasAttribute('manual')) this.generate().catch(() => {});
  }

  #number(name) {
    const v = this.getAttribute(name);
    return v === null || v === '' ? undefined : Number(v);
  }

  /** Writes a new story; resolves to the generation result. */
  async generate() {
    this.stop();
    const controller = new AbortController();
    this.#controller = controller;
    const source = this.getAttribute('model');
    try {
      if (!source) throw new Error('<lm-story> needs a model attribute');
      this.#status.textContent = 'Loading the model…';
      const model = await sharedModel(source, ({ loaded, total }) => {
        if (this.#controller === controller)
          this.#status.textContent = total ? `Downloading the model… ${Math.floor((100 * loaded) / total)}%` : 'Downloading the model…';
      });
      if (controller.signal.aborted) return undefined;
      this.#status.textContent = '';
      const prompt = this.getAttribute('prompt') ?? 'Once upon a time';
      this.#text.textContent = prompt;
      const stop = this.getAttribute('stop');
      const generation = model.generate(prompt, {
        maxTokens: this.#number('max-tokens'),
        temperature: this.#number('temperature'),
        topK: this.#number('top-k'),
        topP: this.#number('top-p'),
        repetitionPenalty: this.#number('repetition-penalty'),
        seed: this.#number('seed'),
        stop: stop ? [stop] : ['<|end_story|>'],
        signal: controller.signal,
      });
      for await (const chunk of generation) {
        this.#text.append(chunk.text);
        this.dispatchEvent(new CustomEvent('lm-token', { detail: chunk }));
      }
      const result = await generation;
      this.dispatchEvent(new CustomEvent('lm-done', { detail: result }));
      return result;
    } catch (error) {
      if (error?.name === 'AbortError') return undefined;
      this.#status.textContent = `Could not write a story: ${error.message}`;
      this.dispatchEvent(new CustomEvent('lm-error', { detail: error }));
      throw error;
    } finally {
      if (this.#controller === controller) this.#controller = null;
    }
  }

  /** Stops the story being written (the text so far stays). */
  stop() {
    this.#controller?.abort();
    this.#controller = null;
  }
}

if (!customElements.get('lm-story')) customElements.define('lm-story', LmStoryElement);
