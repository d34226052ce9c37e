/** A progress bar on stderr for long runs when stdout is a terminal (cli-progress). */
import cliProgress from 'cli-progress';

export function progressBar(stream: NodeJS.WritableStream): { update: (done: number, total: number) => void; stop: () => void } {
  const bar = new cliProgress.SingleBar(
    { stream: stream as NodeJS.WritableStream & NodeJS.WriteStream, format: ' {bar} {percentage}% | {value}/{total} steps | ETA {eta}s', hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total) {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.update(done);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
