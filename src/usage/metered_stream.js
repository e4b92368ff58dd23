// The metered answer body (see src/usage/tap.rs): the stream machinery in JavaScript, so a chunk
// costs one call into wasm (the meter's feed or filter, with the bytes) instead of the dozen
// crossings the same loop made when driven from Rust (the read's promise, its fields, enqueue).
//
// A pull-based stream with a high-water mark of 0: the client's reads drive the upstream reads,
// so a slow client holds back the upstream, not the Worker's memory. Each chunk goes to the client
// first and to the meter after, except when the meter filters (the usage-only chunk the client did
// not ask for), where it decides first. workerd neither cancels the stream nor aborts
// request.signal when a client leaves mid-answer, it only stops pulling: a stream not pulled for
// `idleMs` while no pull waits on the upstream is taken as abandoned.
//
// `sink` is the Rust meter (tap::Sink): filters(), feed(bytes), filter(bytes) -> bytes to send
// instead or undefined for the chunk as it is, held(), complete(cut). `done` resolves once the
// meter completed.
export function meteredStream(body, sink, idleMs, signal) {
  const reader = body.getReader();
  const filters = sink.filters();
  let finished = false;
  let pulling = false;
  let lastPull = Date.now();
  let timer;
  let resolveDone;
  const done = new Promise((resolve) => (resolveDone = resolve));
  const complete = (cut) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    sink.complete(cut);
    resolveDone();
  };
  const stream = new ReadableStream(
    {
      async pull(controller) {
        pulling = true;
        try {
          for (;;) {
            let read;
            try {
              read = await reader.read();
            } catch (e) {
              complete(true);
              controller.error(e);
              return;
            }
            if (read.done) {
              if (!finished) {
                const held = sink.held();
                if (held !== undefined) controller.enqueue(held);
              }
              complete(false);
              controller.close();
              return;
            }
            const chunk = read.value;
            if (finished) {
              // Recorded already (taken as abandoned): the bytes still go on.
              controller.enqueue(chunk);
            } else if (filters) {
              const out = sink.filter(chunk);
              if (out === undefined) controller.enqueue(chunk);
              else if (out.length === 0) continue;
              else controller.enqueue(out);
            } else {
              controller.enqueue(chunk);
              sink.feed(chunk);
            }
            return;
          }
        } finally {
          pulling = false;
          lastPull = Date.now();
        }
      },
      cancel(reason) {
        // The client went away: record what was seen, and stop reading the upstream.
        complete(true);
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  if (signal && typeof signal.addEventListener === "function") {
    signal.addEventListener("abort", () => {
      complete(true);
      reader.cancel().catch(() => {});
    });
  }
  const watch = () => {
    if (finished) return;
    if (!pulling && Date.now() - lastPull > idleMs) {
      complete(true);
      reader.cancel().catch(() => {});
      return;
    }
    timer = setTimeout(watch, idleMs / 2);
  };
  timer = setTimeout(watch, idleMs / 2);
  return [stream, done];
}
