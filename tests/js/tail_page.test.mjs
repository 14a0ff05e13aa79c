// tail.js wired to a stand-in DOM and socket: frames in, rows, counters and frames out. The browser
// tests (tests/tail/test_live_browser.py) drive the real page; this one runs wherever Node does.
import assert from "node:assert/strict";
import { test } from "node:test";

class Node {
  constructor(tagName) {
    this.tagName = tagName;
    this.childNodes = [];
    this.parent = null;
    this.className = "";
    this.dataset = {};
    this.hidden = false;
    this.listeners = {};
    this.text = "";
    this.classList = {
      add: (name) => {
        this.className = `${this.className} ${name}`.trim();
      },
      contains: (name) => this.className.split(" ").includes(name),
    };
  }

  get children() {
    return this.childNodes.filter((node) => node.tagName !== "#text");
  }

  get textContent() {
    return this.tagName === "#text" ? this.text : this.childNodes.map((node) => node.textContent).join("");
  }

  set textContent(value) {
    if (this.tagName === "#text") this.text = String(value);
    else this.replaceChildren(text(String(value)));
  }

  insert(at, nodes) {
    const flat = nodes.flatMap((node) => (node.tagName === "#fragment" ? node.childNodes.splice(0) : [node]));
    for (const node of flat) {
      if (node.parent) node.remove();
      node.parent = this;
    }
    this.childNodes.splice(at, 0, ...flat);
  }

  append(...nodes) {
    this.insert(this.childNodes.length, nodes);
  }

  prepend(...nodes) {
    this.insert(0, nodes);
  }

  after(node) {
    this.parent.insert(this.parent.childNodes.indexOf(this) + 1, [node]);
  }

  remove() {
    if (!this.parent) return;
    this.parent.childNodes.splice(this.parent.childNodes.indexOf(this), 1);
    this.parent = null;
  }

  replaceChildren(...nodes) {
    for (const node of this.childNodes.splice(0)) node.parent = null;
    this.append(...nodes);
  }

  get firstElementChild() {
    return this.children[0] || null;
  }

  get lastElementChild() {
    return this.children.at(-1) || null;
  }

  get previousElementSibling() {
    const siblings = this.parent.children;
    return siblings[siblings.indexOf(this) - 1] || null;
  }

  matches(selector) {
    return selector.split(",").some((one) => {
      const [tag, cls] = one.trim().split(".");
      return (!tag || this.tagName === tag) && (!cls || this.classList.contains(cls));
    });
  }

  closest(selector) {
    let node = this;
    while (node && !(node.tagName !== "#text" && node.matches(selector))) node = node.parent;
    return node;
  }

  querySelectorAll(selector) {
    const found = [];
    for (const child of this.children) {
      if (child.matches(selector)) found.push(child);
      found.push(...child.querySelectorAll(selector));
    }
    return found;
  }

  querySelector(selector) {
    return this.querySelectorAll(selector)[0] || null;
  }

  addEventListener(type, listener) {
    this.listeners[type] = listener;
  }

  click() {
    for (let node = this; node; node = node.parent) if (node.listeners.click) node.listeners.click({ target: this });
  }
}

function text(value) {
  const node = new Node("#text");
  node.text = value;
  return node;
}

const CONFIG = {
  source: "stream",
  name: "ORDERS",
  socket: "/ws/clusters/nats/tail",
  rows: 2,
  order: "newest",
  subscribe: { action: "subscribe", source: "stream", name: "ORDERS", from: "now", filter: null },
};
const ids = {};
for (const id of ["tail-rows", "tail-empty", "tail-state", "tail-notice", "tail-error", "tail-received", "tail-matched"]) {
  ids[id] = new Node("p");
}
for (const id of ["tail-scanned", "tail-dropped", "tail-rate", "tail-pause", "tail-clear", "tail-order", "tail-order-field"]) {
  ids[id] = new Node("p");
}
ids["tail-rows"] = new Node("tbody");
ids["tail-paused-count"] = new Node("span");
ids["tail-paused-count"].append(new Node("strong"));
ids["tail-config"] = text(JSON.stringify(CONFIG));
ids["tail-links"] = text("{}");

const sockets = [];
class FakeSocket {
  static OPEN = 1;
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.rowsAtSend = [];
    sockets.push(this);
  }

  send(data) {
    this.sent.push(JSON.parse(data));
    this.rowsAtSend.push(ids["tail-rows"].querySelectorAll("tr.row").length);
  }

  receive(frame) {
    this.onmessage({ data: typeof frame === "string" ? frame : JSON.stringify(frame) });
  }
}

const replaced = [];
Object.assign(globalThis, {
  document: {
    hidden: false,
    body: { getAttribute: () => null },
    getElementById: (id) => ids[id],
    createElement: (tag) => new Node(tag),
    createTextNode: text,
    createDocumentFragment: () => new Node("#fragment"),
    addEventListener() {},
  },
  WebSocket: FakeSocket,
  location: { protocol: "http:", host: "console.test", href: "http://console.test/clusters/nats/streams/ORDERS/live" },
  history: { replaceState: (_state, _title, url) => replaced.push(String(url)) },
});

const row = (seq, subject) => ({ subject, seq, time: "2026-01-01T00:00:00.123456Z", headers: [], value: { text: `v${seq}`, base64: "" }, reply: null, truncated: false });
const subjects = () => ids["tail-rows"].querySelectorAll("tr.row").map((tr) => tr.children[1].textContent);

test("the page subscribes, draws bounded rows as text, acks after drawing and keeps the counts", async () => {
  await import("../../static/js/tail.js");
  const [ws] = sockets;
  assert.equal(ws.url, "ws://console.test/ws/clusters/nats/tail");
  ws.readyState = FakeSocket.OPEN;
  ws.onopen();
  assert.deepEqual(ws.sent, [CONFIG.subscribe]);
  assert.equal(ids["tail-state"].textContent, "subscribing…");

  ws.receive({ type: "subscribed", source: "stream", name: "ORDERS", from: "now", start: { seq: 7 } });
  assert.equal(ids["tail-state"].textContent, "live");
  assert.equal(ids["tail-state"].className, "pill live");

  const hostile = '<img src=x onerror="window.pwned=1">';
  ws.receive({ type: "messages", seq: 1, token: "tok-1", dropped: 0, total_dropped: 0, items: [row(7, "o.a"), row(8, "o.b"), row(9, hostile)] });
  assert.deepEqual(subjects(), [hostile, "o.b"]); // newest first, at most rows=2
  assert.deepEqual(ws.sent.at(-1), { action: "ack", seq: 1, token: "tok-1" });
  assert.equal(ws.rowsAtSend.at(-1), 2); // drawn before the ack went
  assert.equal(ids["tail-empty"].hidden, true);
  assert.equal(ids["tail-received"].textContent, "3");

  ws.receive({ type: "messages", seq: 2, token: "tok-2", dropped: 4, total_dropped: 4, items: [row(14, "o.c")] });
  assert.deepEqual(subjects(), ["o.c", hostile]);
  assert.deepEqual([ids["tail-received"], ids["tail-matched"], ids["tail-dropped"]].map((n) => n.textContent), ["4", "8", "4"]);

  const sent = ws.sent.length;
  ws.receive("not json");
  ws.receive({ type: "from the future", seq: 3, token: "tok-3" });
  assert.equal(ws.sent.length, sent);

  ws.receive({ type: "status", matched: 8, scanned: 30, total_dropped: 4, rate: 2.5 });
  assert.equal(ids["tail-scanned"].textContent, "30");
  assert.equal(ids["tail-rate"].textContent, "2.5");

  ids["tail-pause"].click();
  assert.deepEqual(ws.sent.at(-1), { action: "pause" });
  assert.equal(ids["tail-pause"].textContent, "Resume");
  ws.receive({ type: "status", matched: 11, scanned: 33, total_dropped: 4, rate: 3 });
  assert.equal(ids["tail-paused-count"].hidden, false);
  assert.equal(ids["tail-paused-count"].textContent, "3");
  ids["tail-pause"].click();
  assert.deepEqual(ws.sent.at(-1), { action: "resume" });
  assert.equal(ids["tail-paused-count"].hidden, true);

  ids["tail-order"].click();
  assert.deepEqual(subjects(), [hostile, "o.c"]);
  assert.equal(ids["tail-order-field"].value, "oldest");
  assert.match(replaced.at(-1), /order=oldest/);

  ids["tail-rows"].querySelector("tr.row").click();
  assert.equal(ids["tail-rows"].children[1].className, "detail");
  ids["tail-order"].click();
  assert.deepEqual(subjects(), ["o.c", hostile]);
  assert.equal(ids["tail-rows"].children.at(-1).className, "detail"); // the open view stays under its row

  ids["tail-clear"].click();
  assert.deepEqual(subjects(), []);
  assert.equal(ids["tail-empty"].hidden, false);

  ws.onclose({ code: 4403, reason: "" });
  assert.equal(ids["tail-state"].textContent, "closed");
  assert.equal(ids["tail-error"].textContent, "Watching needs the Viewers or Operators role.");
  assert.equal(ids["tail-error"].hidden, false);
  assert.equal(sockets.length, 1);
});
