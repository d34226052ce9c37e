/** A progress bar on stderr for long runs when stdout is a terminal (cli-progress). */
import cliProgress from 'cli-progress';

/**
 * `unit` names what is counted (default steps); with `rate` the bar also shows the count per second of wall
 * time (the CLI's own measure: the model never reads the wall clock).
 */
export function progressBar(stream: NodeJS.WritableStream, unit = 'steps', rate = false): { update: (done: number, total: number) => void; stop: () => void } {
  const bar = new cliProgress.SingleBar(
    {
      stream: stream as NodeJS.WritableStream & NodeJS.WriteStream,
      format: ` {bar} {percentage}% | {value}/{total} ${unit}${rate ? ' | {rate}/s' : ''} | ETA {eta}s`,
      hideCursor: true, clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let t0 = 0;
  return {
    update(done, total) {
      if (!started) {
        bar.start(total, 0, { rate: 0 });
        started = true;
        t0 = performance.now();
      }
      const s = (performance.now() - t0) / 1000;
      bar.update(done, { rate: s > 0 ? Math.round(done / s) : 0 });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
