// Live tail page: one WebSocket per tab. What the protocol decides (acks with each frame's token,
// counts, where to resume, when to reconnect) is in tail/protocol.js, without the DOM; the rows,
// bounded in number and built from text only, are in tail/rows.js. This module wires them to the
// socket and the page's controls. ES modules, no build step.

import { parseFrame, RowWindow, TailProtocol } from "./tail/protocol.js";
import { TailRows } from "./tail/rows.js";

const config = JSON.parse(document.getElementById("tail-config").textContent);
const links = JSON.parse(document.getElementById("tail-links").textContent);
const $ = (id) => document.getElementById(id);

const protocol = new TailProtocol(config);
const rows = new TailRows($("tail-rows"), $("tail-empty"), new RowWindow(config.rows), config, links);
let socket = null;

function setState(text, kind) {
  const pill = $("tail-state");
  pill.textContent = text;
  pill.className = `pill ${kind || ""}`;
}

function box(id, text) {
  const node = $(id);
  node.textContent = text || "";
  node.hidden = !text;
}

function showCounts() {
  const counts = protocol.counts();
  $("tail-received").textContent = counts.received;
  $("tail-matched").textContent = counts.matched;
  $("tail-scanned").textContent = counts.scanned;
  $("tail-dropped").textContent = counts.dropped;
}

function send(frame) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}

// Rows are drawn before the frame's ack goes out: the ack says the page has handled the frame.
function apply(outcome) {
  if (outcome.error !== undefined) box("tail-error", outcome.error);
  if (outcome.notice !== undefined) box("tail-notice", outcome.notice);
  if (outcome.items) rows.add(outcome.items, document.hidden);
  if (outcome.counts) showCounts();
  if (outcome.rate !== undefined) $("tail-rate").textContent = outcome.rate;
  if (outcome.pausedCount !== undefined) {
    const paused = $("tail-paused-count");
    paused.hidden = outcome.pausedCount === null;
    if (outcome.pausedCount !== null) paused.querySelector("strong").textContent = outcome.pausedCount;
  }
  if (outcome.state) setState(...outcome.state);
  for (const frame of outcome.send || []) send(frame);
  if (outcome.resubscribeIn !== undefined) setTimeout(() => send(protocol.subscribeFrame()), outcome.resubscribeIn);
  if (outcome.reconnectIn !== undefined) setTimeout(connect, outcome.reconnectIn);
  if (outcome.connect) connect();
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}${config.socket}`);
  socket = ws;
  apply(protocol.connecting());
  ws.onopen = () => apply(protocol.opened());
  ws.onmessage = (event) => {
    const frame = parseFrame(event.data);
    if (frame) apply(protocol.handle(frame));
  };
  ws.onclose = (event) => {
    if (socket !== ws) return;
    socket = null;
    apply(protocol.closed(event.code, event.reason));
  };
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) rows.reveal();
});

$("tail-pause").addEventListener("click", (event) => {
  const outcome = protocol.togglePause();
  event.target.textContent = protocol.paused ? "Resume" : "Pause";
  apply(outcome);
});

$("tail-clear").addEventListener("click", () => rows.clear());

$("tail-order").addEventListener("click", (event) => {
  const newestFirst = rows.reverse();
  event.target.textContent = newestFirst ? "Newest first" : "Newest last";
  const order = newestFirst ? "newest" : "oldest";
  $("tail-order-field").value = order;
  const url = new URL(location.href);
  url.searchParams.set("order", order);
  history.replaceState(null, "", url);
});

connect();
