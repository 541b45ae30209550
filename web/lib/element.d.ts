import type { Chunk, GenerationResult } from './index.js';

/** <lm-story model="…" prompt="…" max-tokens="…">: writes a story in place. */
export declare class LmStoryElement extends HTMLElement {
  generate(): Promise<GenerationResult | undefined>;
  stop(): void;
}

declare global {
  interface HTMLElementTagNameMap {
    'lm-story': LmStoryElement;
  }
  interface HTMLElementEventMap {
    'lm-token': CustomEvent<Chunk>;
    'lm-done': CustomEvent<GenerationResult>;
    'lm-error': CustomEvent<Error>;
  }
}
