// Appended to the Emscripten glue (--post-js). Quoted names survive minification.
// Lets the JS wrapper stop pthread workers so a Node process can exit.
Module['lmTerminateThreads'] = function () {
  if (typeof PThread != 'undefined') PThread.terminateAllThreads();
};
// In Node, worker threads keep the process alive; the engine's pool threads
// should not (they only ever wait for work from the main thread).
Module['lmUnrefThreads'] = function () {
  if (typeof PThread == 'undefined') return;
  for (const w of PThread.unusedWorkers.concat(PThread.runningWorkers)) if (w.unref) w.unref();
};
