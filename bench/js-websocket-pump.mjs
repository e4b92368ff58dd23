// A WebSocket relay in plain JavaScript, for bench/websocket-cpu.mjs: the same shape as the
// proxy's pump (a WebSocketPair, both ends accepted, every message re-sent), without wasm or any
// token check, so the two figures separate the cost of pumping at all from the cost of our glue.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    headers.set("authorization", `Bearer ${env.OPENAI_API_KEY}`);
    const answer = await fetch(env.OPENAI_UPSTREAM + url.pathname + url.search, { headers });
    const upstream = answer.webSocket;
    if (!upstream) return answer;
    const [client, server] = Object.values(new WebSocketPair());
    for (const ws of [upstream, server]) { ws.binaryType = "arraybuffer"; ws.accept(); }
    server.addEventListener("message", (e) => upstream.send(e.data));
    upstream.addEventListener("message", (e) => server.send(e.data));
    server.addEventListener("close", (e) => upstream.close(e.code, e.reason));
    upstream.addEventListener("close", (e) => server.close(e.code, e.reason));
    return new Response(null, { status: 101, webSocket: client });
  },
};
