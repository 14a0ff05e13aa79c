// Live tail page: one WebSocket per tab, rows built with createElement/textContent only
// (broker data is hostile), a bounded number of rows, an ack after each rendered frame
// (echoing the frame's token: the server counts no other), and reconnection with backoff
// that resumes where the source allows. No build step.

const config = JSON.parse(document.getElementById("tail-config").textContent);
const links = JSON.parse(document.getElementById("tail-links").textContent);
const $ = (id) => document.getElementById(id);
const rowsEl = $("tail-rows");
const HEX_LIMIT = 4096;
const NO_RETRY = { 4401: "You are logged out: log in again to watch.", 4403: "Watching needs the Viewers or Operators role.", 4404: "There is no such cluster." };

const state = {
  ws: null,
  paused: false,
  newestFirst: config.order !== "oldest",
  maxRows: config.rows,
  rowCount: 0,
  received: 0,
  matched: 0,
  scanned: 0,
  totalDropped: 0,
  receivedBefore: 0, // received on earlier sockets: the server counts each socket from its subscribe
  matchedAtPause: 0,
  positions: null, // Kafka: {partition: next offset}
  nextSeq: null, // JetStream: next stream sequence
  subscribedOnce: false,
  reconnecting: false,
  lostAt: null,
  attempt: 0,
  closedWhilePaused: false,
  hidden: [], // items that arrived while the tab was hidden, newest kept
};

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function setState(text, kind) {
  const pill = $("tail-state");
  pill.textContent = text;
  pill.className = `pill ${kind || ""}`;
}

function notice(text) {
  const box = $("tail-notice");
  box.textContent = text || "";
  box.hidden = !text;
}

function showError(text) {
  const box = $("tail-error");
  box.textContent = text || "";
  box.hidden = !text;
}

// -- the socket ----------------------------------------------------------------------

function subscribeFrame() {
  const frame = { ...config.subscribe };
  if (state.subscribedOnce) {
    if (config.source === "topic" && state.positions) frame.from = { offsets: state.positions };
    else if ((config.source === "stream" || config.source === "kv") && state.nextSeq) frame.from = { seq: state.nextSeq };
    else if (config.source === "subject") frame.from = "now";
  }
  return frame;
}

function send(frame) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(frame));
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}${config.socket}`);
  state.ws = ws;
  ws.onopen = () => {
    setState("subscribing…");
    send(subscribeFrame());
  };
  ws.onmessage = (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    handle(frame);
  };
  ws.onclose = (event) => {
    if (state.ws !== ws) return;
    state.ws = null;
    if (NO_RETRY[event.code]) {
      setState("closed", "down");
      showError(NO_RETRY[event.code]);
      return;
    }
    if (event.code === 4408 && state.paused) {
      // Paused longer than the server keeps a socket for nobody: Resume reconnects.
      state.closedWhilePaused = true;
      state.reconnecting = state.subscribedOnce;
      if (state.lostAt === null) state.lostAt = Date.now();
      setState("paused (disconnected)", "paused");
      notice("Paused too long: the server closed the tail. Resume reconnects and goes on from where it stopped.");
      return;
    }
    if (event.code === 4429) showError(event.reason || "Too many live tails are open: close one.");
    if (state.lostAt === null) state.lostAt = Date.now();
    state.reconnecting = state.subscribedOnce;
    const delay = Math.min(30, 2 ** state.attempt) * (0.75 + Math.random() / 2);
    state.attempt += 1;
    const why = { 4408: "the tab did not keep up", 4429: "too many tails" }[event.code] || "the connection was lost";
    setState(`reconnecting in ${Math.round(delay)} s`, "down");
    notice(`Disconnected (${why}); reconnecting by itself.`);
    setTimeout(connect, delay * 1000);
  };
}

function handle(frame) {
  switch (frame.type) {
    case "subscribed":
      return onSubscribed(frame);
    case "messages":
      render(frame.items);
      state.totalDropped = frame.total_dropped;
      showCounts();
      send({ action: "ack", seq: frame.seq, token: frame.token });
      return undefined;
    case "status":
      return onStatus(frame);
    case "error":
      return onError(frame);
    default:
      return undefined;
  }
}

function onSubscribed(frame) {
  showError("");
  Object.assign(state, { receivedBefore: state.received, matched: 0, scanned: 0, totalDropped: 0 });
  const start = frame.start || {};
  if (!state.subscribedOnce) {
    if (start.offsets) state.positions = { ...start.offsets };
    if (start.seq) state.nextSeq = start.seq;
  }
  if (state.reconnecting) {
    const at = new Date().toLocaleTimeString();
    const gap = state.lostAt ? ((Date.now() - state.lostAt) / 1000).toFixed(1) : "?";
    if (config.source === "subject") {
      notice(`Reconnected at ${at}. Core NATS keeps no history: messages published during the ${gap} s gap were missed.`);
    } else {
      notice(`Reconnected at ${at}; resumed from where it stopped, so nothing the broker still holds was missed.`);
    }
  } else if (frame.notice) {
    notice(frame.notice);
  }
  state.subscribedOnce = true;
  state.reconnecting = false;
  state.lostAt = null;
  state.attempt = 0;
  if (state.paused) send({ action: "pause" });
  setState(state.paused ? "paused" : "live", state.paused ? "paused" : "live");
}

// Status frames come every second; between them the counts must still add up on screen:
// every message received or dropped was matched, and every match was scanned.
function showCounts() {
  const matched = Math.max(state.matched, state.received - state.receivedBefore + state.totalDropped);
  $("tail-matched").textContent = matched;
  $("tail-scanned").textContent = Math.max(state.scanned, matched);
  $("tail-dropped").textContent = state.totalDropped;
}

function onStatus(frame) {
  state.matched = frame.matched;
  state.scanned = frame.scanned;
  state.totalDropped = frame.total_dropped;
  showCounts();
  $("tail-rate").textContent = frame.rate;
  const paused = $("tail-paused-count");
  paused.hidden = !state.paused;
  if (state.paused) paused.querySelector("strong").textContent = Math.max(0, frame.matched - state.matchedAtPause);
  if (frame.upstream === "down") setState("broker unreachable", "down");
  else if (state.subscribedOnce && state.ws) setState(state.paused ? "paused" : "live", state.paused ? "paused" : "live");
}

function onError(frame) {
  if (frame.retrying) {
    setState("broker unreachable", "down");
    notice(frame.error);
    return;
  }
  showError(frame.field ? `${frame.error} (${frame.field})` : frame.error);
  if (frame.field === null && state.subscribedOnce && state.ws) {
    // The server ended the subscription (the source went away): ask again a little later.
    setTimeout(() => send(subscribeFrame()), 5000);
  }
}

// -- rows ----------------------------------------------------------------------------

function isoTime(value) {
  return value ? String(value).replace("T", " ").slice(0, 23) : "—";
}

function clip(text, most) {
  return text.length > most ? `${text.slice(0, most)}…` : text;
}

function preview(payload) {
  if (payload === null || payload === undefined) return "null";
  if (payload.decoded) return clip(JSON.stringify(payload.decoded.data), 300);
  if (payload.text !== null) return clip(payload.text, 300);
  return `binary (base64) ${payload.base64.slice(0, 120)}`;
}

function schemaName(decoded) {
  const parts = [decoded.format];
  if (decoded.type) parts.push(decoded.type);
  if (decoded.subject) parts.push(`${decoded.subject}${decoded.version ? ` v${decoded.version}` : ""}`);
  if (decoded.schema_id !== null && decoded.schema_id !== undefined) parts.push(`id ${decoded.schema_id}`);
  if (decoded.file) parts.push(decoded.file);
  return parts.join(" · ");
}

// A row's key or value cell: the decoded form where a schema read it, tagged with the schema.
function previewCell(payload) {
  const cell = el("td", null, "preview");
  if (payload && payload.decoded) {
    const name = schemaName(payload.decoded);
    cell.append(el("span", payload.decoded.format, "schema-tag"), document.createTextNode(" "));
    cell.title = `decoded · ${name}`;
    cell.classList.add("decoded");
  } else if (payload && payload.decode_error) {
    cell.title = `Not decoded: ${payload.decode_error}`;
  }
  cell.append(document.createTextNode(preview(payload)));
  return cell;
}

function track(item) {
  if (config.source === "topic") {
    state.positions = state.positions || {};
    const next = item.offset + 1;
    if (!(item.partition in state.positions) || state.positions[item.partition] < next) state.positions[item.partition] = next;
  } else if (config.source === "stream" && item.seq) {
    state.nextSeq = Math.max(state.nextSeq || 0, item.seq + 1);
  } else if (config.source === "kv" && item.revision) {
    state.nextSeq = Math.max(state.nextSeq || 0, item.revision + 1);
  }
}

function makeRow(item) {
  const row = el("tr", null, "row");
  row.tabIndex = 0;
  row.append(el("td", isoTime(item.timestamp || item.time || item.created), "nowrap"));
  if (config.source === "kv") {
    row.append(el("td", item.key, "wrap"), el("td", item.revision, "num"), el("td", item.operation));
    if (item.operation !== "PUT") row.classList.add("muted");
  } else if (config.source === "topic") {
    row.append(el("td", item.partition, "num"), el("td", item.offset, "num"), previewCell(item.key));
    row.dataset.partition = item.partition;
    row.dataset.offset = item.offset;
  } else {
    row.append(el("td", item.subject, "wrap"));
    if (config.source === "stream") row.append(el("td", item.seq, "num"));
  }
  row.append(previewCell(item.value));
  row.item = item;
  return row;
}

function render(items) {
  state.received += items.length;
  $("tail-received").textContent = state.received;
  for (const item of items) track(item);
  if (document.hidden) {
    // Hidden tabs keep only what they would show, and draw it when they are looked at again.
    state.hidden.push(...items);
    if (state.hidden.length > state.maxRows) state.hidden.splice(0, state.hidden.length - state.maxRows);
    return;
  }
  draw(items);
}

function draw(items) {
  const shown = items.length > state.maxRows ? items.slice(-state.maxRows) : items;
  if (!shown.length) return;
  const fragment = document.createDocumentFragment();
  const ordered = state.newestFirst ? [...shown].reverse() : shown;
  for (const item of ordered) fragment.append(makeRow(item));
  if (state.newestFirst) rowsEl.prepend(fragment);
  else rowsEl.append(fragment);
  state.rowCount += shown.length;
  trim();
  $("tail-empty").hidden = true;
}

function trim() {
  while (state.rowCount > state.maxRows) {
    const oldest = state.newestFirst ? lastRow() : rowsEl.firstElementChild;
    if (!oldest) break;
    if (oldest.detail) oldest.detail.remove();
    oldest.remove();
    state.rowCount -= 1;
  }
}

function lastRow() {
  let node = rowsEl.lastElementChild;
  while (node && !node.classList.contains("row")) node = node.previousElementSibling;
  return node;
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && state.hidden.length) {
    const items = state.hidden;
    state.hidden = [];
    draw(items);
  }
});

// -- a row's full view: the same payload view as the message browser ---------------------

function hex(base64) {
  const bytes = atob(base64);
  const parts = [];
  for (let i = 0; i < Math.min(bytes.length, HEX_LIMIT); i += 1) parts.push(bytes.charCodeAt(i).toString(16).padStart(2, "0"));
  return parts.join(" ");
}

// Which schema read it: format and type, the registry's subject (linked), version and id, or the local file.
function schemaLine(decoded) {
  const line = el("p", `decoded · ${decoded.format}${decoded.type ? ` ${decoded.type}` : ""}`, "schema muted");
  if (decoded.subject) {
    line.append(document.createTextNode(" · "));
    if (links.schemas_base) {
      const link = el("a", decoded.subject);
      const path = decoded.subject.split("/").map(encodeURIComponent).join("/");
      link.href = `${links.schemas_base}${path}${decoded.version ? `?version=${decoded.version}` : ""}`;
      line.append(link);
    } else {
      line.append(document.createTextNode(decoded.subject));
    }
  }
  let rest = "";
  if (decoded.version) rest += ` v${decoded.version}`;
  if (decoded.schema_id !== null && decoded.schema_id !== undefined) rest += ` · id ${decoded.schema_id}`;
  if (decoded.file) rest += ` · local schema ${decoded.file}`;
  if (rest) line.append(document.createTextNode(rest));
  return line;
}

function payloadView(payload, size, truncated, fullUrl) {
  const box = el("div");
  if (payload === null || payload === undefined) {
    box.append(el("span", "null", "muted"));
    return box;
  }
  if (payload.decoded) {
    // The decoded form by default; the raw bytes a click away.
    box.append(schemaLine(payload.decoded), el("pre", JSON.stringify(payload.decoded.data, null, 2), "payload decoded json"));
    if (payload.base64) {
      // A masked payload carries no raw bytes.
      const raw = el("details", null, "payload binary");
      raw.append(el("summary", `raw, ${size ?? "?"} bytes — hex`), el("pre", hex(payload.base64), "hex"));
      raw.append(el("p", "base64", "muted"), el("pre", payload.base64, "b64"));
      box.append(raw);
    }
  } else if (payload.text !== null) {
    let pretty = null;
    const head = payload.text.trimStart()[0];
    if (!truncated && (head === "{" || head === "[")) {
      try {
        pretty = JSON.stringify(JSON.parse(payload.text), null, 2);
      } catch {
        pretty = null;
      }
    }
    box.append(el("pre", pretty ?? payload.text, `payload ${pretty ? "json" : "text"}`));
    if (payload.masked) box.append(el("p", "Masked: parts of this value are hidden from you.", "masked muted"));
  } else {
    const details = el("details", null, "payload binary");
    details.append(el("summary", `binary, ${size ?? "?"} bytes — hex`), el("pre", hex(payload.base64), "hex"));
    details.append(el("p", "base64", "muted"), el("pre", payload.base64, "b64"));
    box.append(details);
  }
  if (payload.decode_error) box.append(el("p", `Not decoded: ${payload.decode_error}`, "decode-error"));
  if (truncated) {
    const note = el("p", `Cut at the live view's limit (${size} bytes in all). `, "truncated");
    if (fullUrl) {
      const link = el("a", "Show all in the message browser");
      link.href = fullUrl;
      note.append(link);
    } else {
      note.append(document.createTextNode("Core NATS keeps no copy of it."));
    }
    box.append(note);
  }
  return box;
}

function fullUrl(item) {
  if (config.source === "topic" && links.messages_url) {
    const query = new URLSearchParams({ partition: item.partition, offset: item.offset, full: "1" });
    return `${links.messages_url}?${query}`;
  }
  if (config.source === "stream" && links.message_base && item.seq) return `${links.message_base}${item.seq}?full=1`;
  if (config.source === "kv" && links.key_base) {
    const path = String(item.key).split("/").map(encodeURIComponent).join("/");
    return `${links.key_base}${path}?revision=${item.revision}`;
  }
  return null;
}

function toggle(row) {
  if (row.detail) {
    row.detail.remove();
    row.detail = null;
    return;
  }
  const item = row.item;
  const detail = el("tr", null, "detail");
  const cell = el("td");
  cell.colSpan = row.children.length;
  const url = fullUrl(item);
  if (config.source === "topic") {
    cell.append(el("h4", "Key"), payloadView(item.key, item.key_size, item.truncated, url));
  } else if (item.reply) {
    cell.append(el("h4", "Reply to"), el("code", item.reply));
  }
  cell.append(el("h4", "Headers"));
  if (!item.headers.length) cell.append(el("span", "—", "muted"));
  for (const [name, value] of item.headers) {
    const line = el("div");
    line.append(el("code", name), document.createTextNode(": "), payloadView(value, null, false, null));
    cell.append(line);
  }
  cell.append(el("h4", "Value"), payloadView(item.value, item.size, item.truncated, url));
  const again = publishControls(item);
  if (again) cell.append(again);
  detail.append(cell);
  row.after(detail);
  row.detail = detail;
}

// -- publish again / edit and publish (operators) -----------------------------------------

// What the publish endpoint needs to send this message again: a stored message by its
// coordinates (the broker's own bytes), a core NATS message by its content when it was not cut.
function republishBody(item) {
  if (config.source === "topic") return { from_partition: item.partition, from_offset: item.offset };
  if (config.source === "stream" && item.seq) return { from_stream: config.name, from_seq: item.seq, mode: "jetstream" };
  if (item.truncated || item.headers.some(([, value]) => value && value.text === null)) return null;
  if (isMasked(item)) return null;
  return {
    subject: item.subject,
    value: item.value ? item.value.base64 : null,
    encoding: "base64",
    headers: item.headers.map(([name, value]) => [name, value ? value.text : ""]),
  };
}

function editUrl(item, body) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(body)) {
    if (name === "headers" || value === null) continue;
    query.set(name, value);
  }
  return `${links.publish_page}?${query}`;
}

function csrfToken() {
  try {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
  } catch {
    return "";
  }
}

function isMasked(item) {
  return Boolean((item.value && item.value.masked) || item.headers.some(([, value]) => value && value.masked));
}

function publishControls(item) {
  if (!links.publish_api) return null;
  const body = republishBody(item);
  if (!body && isMasked(item)) return el("p", "Masked: it cannot be published again from here.", "muted small");
  if (!body) return el("p", "Cut at the live view's limit: publish it again from a client.", "muted small");
  const box = el("p", null, "again small");
  const button = el("button", "Publish again", "link");
  button.type = "button";
  const outcome = el("span", null, "muted");
  button.addEventListener("click", async () => {
    button.disabled = true;
    outcome.textContent = " sending…";
    try {
      const response = await fetch(links.publish_api, {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify(body),
      });
      const answer = await response.json();
      outcome.textContent = ` ${response.ok ? answer.message : answer.error}`;
    } catch (error) {
      outcome.textContent = ` ${error}`;
    } finally {
      button.disabled = false;
    }
  });
  const edit = el("a", "Edit and publish");
  edit.href = editUrl(item, body);
  box.append(button, document.createTextNode(" · "), edit, outcome);
  return box;
}

rowsEl.addEventListener("click", (event) => {
  if (event.target.closest("a, pre, details")) return;
  const row = event.target.closest("tr.row");
  if (row) toggle(row);
});
rowsEl.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && event.target.matches("tr.row")) toggle(event.target);
});

// -- controls ------------------------------------------------------------------------------

$("tail-pause").addEventListener("click", (event) => {
  state.paused = !state.paused;
  event.target.textContent = state.paused ? "Resume" : "Pause";
  if (state.paused) {
    state.matchedAtPause = state.matched;
    send({ action: "pause" });
    setState("paused", "paused");
  } else if (state.closedWhilePaused) {
    state.closedWhilePaused = false;
    $("tail-paused-count").hidden = true;
    connect();
  } else {
    send({ action: "resume" });
    $("tail-paused-count").hidden = true;
    setState("live", "live");
  }
});

$("tail-clear").addEventListener("click", () => {
  rowsEl.replaceChildren();
  state.rowCount = 0;
  state.hidden = [];
  $("tail-empty").hidden = false;
});

$("tail-order").addEventListener("click", (event) => {
  state.newestFirst = !state.newestFirst;
  event.target.textContent = state.newestFirst ? "Newest first" : "Newest last";
  const pairs = [];
  for (const row of rowsEl.querySelectorAll("tr.row")) pairs.push(row.detail ? [row, row.detail] : [row]);
  pairs.reverse();
  rowsEl.replaceChildren(...pairs.flat());
  const order = state.newestFirst ? "newest" : "oldest";
  $("tail-order-field").value = order;
  const url = new URL(location.href);
  url.searchParams.set("order", order);
  history.replaceState(null, "", url);
});

connect();
