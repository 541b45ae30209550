// The Content-Security-Policy the story page and the embed example work
// under (README, "Robustness"): no inline scripts or styles, no eval; wasm
// compilation needs 'wasm-unsafe-eval'; models load from this origin or the
// Hugging Face hub.
export const CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "connect-src 'self' https://huggingface.co https://*.huggingface.co https://*.hf.co",
  "img-src 'self' data:",
  "style-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
