/**
 * Redraws at most once per `minIntervalMs`, on an animation frame (so nothing is drawn while the tab is
 * hidden). Data can arrive thousands of times a second; the screen changes a few times a second.
 */
export interface RenderLoop {
  request(): void;
  cancel(): void;
}

export function createRenderLoop(minIntervalMs: number, render: () => void): RenderLoop {
  let last = 0;
  let timer: number | undefined;
  let frame: number | undefined;
  let pending = false;

  function run(): void {
    frame = undefined;
    pending = false;
    last = performance.now();
    render();
  }

  return {
    request() {
      if (pending) return;
      pending = true;
      const wait = Math.max(0, last + minIntervalMs - performance.now());
      timer = window.setTimeout(() => {
        timer = undefined;
        frame = requestAnimationFrame(run);
      }, wait);
    },
    cancel() {
      if (timer !== undefined) clearTimeout(timer);
      if (frame !== undefined) cancelAnimationFrame(frame);
      timer = undefined;
      frame = undefined;
      pending = false;
    },
  };
}
