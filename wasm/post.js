// Appended to the Emscripten glue (--post-js). Quoted names survive minification.
// Lets the JS wrapper stop pthread workers so a Node process can exit.
Module['lmTerminateThreads'] = function () {
  if (typeof PThread != 'undefined') PThread.terminateAllThreads();
};
