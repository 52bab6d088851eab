/** Let pending I/O and signal handlers run between long synchronous steps (progress bars, Ctrl-C). */
export const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
