/**
 * The bench's progress log (stderr on the command line): one line, and with `err` the error itself, so its stack,
 * code and cause are shown rather than only its message.
 */
export type BenchLog = (line: string, fields?: { err?: unknown }) => void;
