// Asks yaml-language-server (the server behind the YAML support of VS Code, neovim and others) for
// completions in a spec whose header line names the schema, as an editor would, and prints the
// labels offered at each position as one JSON array of arrays.
// Usage: node editor_completion.js <spec.yaml> <line>:<character> [<line>:<character> ...]
const { spawn } = require("child_process");
const fs = require("fs");
const path = require("path");
const [docFile, ...positions] = process.argv.slice(2);
const server = spawn("yaml-language-server", ["--stdio"], { stdio: ["pipe", "pipe", "inherit"] });
server.on("error", (e) => { console.error(`yaml-language-server: ${e.message}`); process.exit(2); });
let buf = Buffer.alloc(0), id = 0;
const pending = new Map();
function send(msg) {
  const body = Buffer.from(JSON.stringify({ jsonrpc: "2.0", ...msg }));
  server.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
  server.stdin.write(body);
}
function request(method, params) {
  return new Promise((resolve) => { const i = ++id; pending.set(i, resolve); send({ id: i, method, params }); });
}
server.stdout.on("data", (d) => {
  buf = Buffer.concat([buf, d]);
  for (;;) {
    const h = buf.indexOf("\r\n\r\n");
    if (h < 0) return;
    const len = Number(/Content-Length: (\d+)/i.exec(buf.slice(0, h).toString())[1]);
    if (buf.length < h + 4 + len) return;
    const msg = JSON.parse(buf.slice(h + 4, h + 4 + len).toString());
    buf = buf.slice(h + 4 + len);
    if (msg.id !== undefined && pending.has(msg.id)) { pending.get(msg.id)(msg.result); pending.delete(msg.id); }
    else if (msg.id !== undefined && msg.method) {
      // workspace/configuration and the like: answer with the YAML settings.
      send({ id: msg.id, result: (msg.params && msg.params.items || [{}]).map(() => ({ validate: true, completion: true, hover: true, schemaStore: { enable: false } })) });
    }
  }
});
(async () => {
  const text = fs.readFileSync(docFile, "utf8");
  const uri = "file://" + path.resolve(docFile);
  await request("initialize", { processId: process.pid, rootUri: null, capabilities: { textDocument: { completion: { completionItem: { snippetSupport: true } } } } });
  send({ method: "initialized", params: {} });
  send({ method: "workspace/didChangeConfiguration", params: { settings: { yaml: { validate: true, completion: true, schemaStore: { enable: false } } } } });
  send({ method: "textDocument/didOpen", params: { textDocument: { uri, languageId: "yaml", version: 1, text } } });
  const out = [];
  for (const p of positions) {
    const [line, character] = p.split(":").map(Number);
    const r = await request("textDocument/completion", { textDocument: { uri }, position: { line, character } });
    const items = Array.isArray(r) ? r : (r && r.items) || [];
    out.push(items.map((i) => i.label).sort());
  }
  console.log(JSON.stringify(out));
  server.kill();
  process.exit(0);
})();
