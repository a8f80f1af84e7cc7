/** A screen of the app: built once per visit, mounted into <main>, told when shared data changed. */
export interface View {
  root: HTMLElement;
  mount(): void;
  /** The fleet store changed (a frame or event arrived). */
  changed?(): void;
  unmount(): void;
}
