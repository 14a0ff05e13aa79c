// The live tail's side of the socket protocol (docs/API.md, "The live tail socket"), without the
// DOM: the counts, where to resume, when to reconnect, and what each frame asks the page to do.
// Each call answers with an outcome, a plain object the page applies in this order:
//   error, notice      text for the error and notice boxes ("" hides one; absent leaves it)
//   items              messages to draw as rows
//   counts             true when the counters changed (read them with counts())
//   rate, pausedCount  the status line (pausedCount null hides "arrived while paused")
//   state              [text, kind] for the state pill
//   send               frames to send, in order
//   resubscribeIn      ms after which to send subscribeFrame() again on the same socket
//   reconnectIn        ms after which to open a new socket
//   connect            true to open a new socket now
// Clock and randomness are passed in so that tests can fix them.

// Close codes after which trying again cannot help.
export const NO_RETRY = {
  4401: "You are logged out: log in again to watch.",
  4403: "Watching needs the Viewers or Operators role.",
  4404: "There is no such cluster.",
};

const WHY_CLOSED = { 4408: "the tab did not keep up", 4429: "too many tails" };
const MOST_BACKOFF_SECONDS = 30;
const RESUBSCRIBE_MS = 5000;

// A text frame as an object, or null for anything else (the page ignores those).
export function parseFrame(text) {
  let frame;
  try {
    frame = JSON.parse(text);
  } catch {
    return null;
  }
  return frame !== null && typeof frame === "object" && !Array.isArray(frame) ? frame : null;
}

export class TailProtocol {
  // config: the page's tail-config (source, name, subscribe, ...).
  constructor(config, { now = () => Date.now(), random = Math.random } = {}) {
    this.source = config.source;
    this.subscribe = config.subscribe;
    this.now = now;
    this.random = random;
    this.connected = false; // a socket is open or opening
    this.paused = false;
    this.received = 0; // over every socket of this page
    this.receivedBefore = 0; // received on earlier sockets: the server counts each socket from its subscribe
    this.matched = 0;
    this.scanned = 0;
    this.totalDropped = 0;
    this.matchedAtPause = 0;
    this.positions = null; // Kafka: {partition: next offset}
    this.nextSeq = null; // JetStream: next stream sequence; KV: next revision
    this.subscribedOnce = false;
    this.reconnecting = false;
    this.lostAt = null;
    this.attempt = 0;
    this.closedWhilePaused = false;
  }

  // The subscribe frame for a new socket: as configured the first time, then from where it stopped.
  subscribeFrame() {
    const frame = { ...this.subscribe };
    if (this.subscribedOnce) {
      if (this.source === "topic" && this.positions) frame.from = { offsets: { ...this.positions } };
      else if ((this.source === "stream" || this.source === "kv") && this.nextSeq) frame.from = { seq: this.nextSeq };
      else if (this.source === "subject") frame.from = "now";
    }
    return frame;
  }

  connecting() {
    this.connected = true;
    return {};
  }

  opened() {
    return { state: ["subscribing…"], send: [this.subscribeFrame()] };
  }

  handle(frame) {
    if (frame === null || typeof frame !== "object") return {};
    switch (frame.type) {
      case "subscribed":
        return this.onSubscribed(frame);
      case "messages":
        return this.onMessages(frame);
      case "status":
        return this.onStatus(frame);
      case "error":
        return this.onError(frame);
      default:
        return {};
    }
  }

  onSubscribed(frame) {
    const outcome = { error: "" };
    this.receivedBefore = this.received;
    this.matched = 0;
    this.scanned = 0;
    this.totalDropped = 0;
    const start = frame.start || {};
    if (!this.subscribedOnce) {
      if (start.offsets) this.positions = { ...start.offsets };
      if (start.seq) this.nextSeq = start.seq;
    }
    if (this.reconnecting) {
      const now = this.now();
      const at = new Date(now).toLocaleTimeString();
      const gap = this.lostAt ? ((now - this.lostAt) / 1000).toFixed(1) : "?";
      outcome.notice =
        this.source === "subject"
          ? `Reconnected at ${at}. Core NATS keeps no history: messages published during the ${gap} s gap were missed.`
          : `Reconnected at ${at}; resumed from where it stopped, so nothing the broker still holds was missed.`;
    } else if (frame.notice) {
      outcome.notice = frame.notice;
    }
    this.subscribedOnce = true;
    this.reconnecting = false;
    this.lostAt = null;
    this.attempt = 0;
    if (this.paused) outcome.send = [{ action: "pause" }];
    outcome.state = this.liveState();
    return outcome;
  }

  // Every frame is acknowledged with its own token once drawn: the server opens its window for no other ack.
  onMessages(frame) {
    const items = Array.isArray(frame.items) ? frame.items : [];
    this.received += items.length;
    for (const item of items) this.track(item);
    this.totalDropped = frame.total_dropped;
    return { items, counts: true, send: [{ action: "ack", seq: frame.seq, token: frame.token }] };
  }

  onStatus(frame) {
    this.matched = frame.matched;
    this.scanned = frame.scanned;
    this.totalDropped = frame.total_dropped;
    const outcome = {
      counts: true,
      rate: frame.rate,
      pausedCount: this.paused ? Math.max(0, frame.matched - this.matchedAtPause) : null,
    };
    if (frame.upstream === "down") outcome.state = ["broker unreachable", "down"];
    else if (this.subscribedOnce && this.connected) outcome.state = this.liveState();
    return outcome;
  }

  onError(frame) {
    if (frame.retrying) return { state: ["broker unreachable", "down"], notice: frame.error };
    const outcome = { error: frame.field ? `${frame.error} (${frame.field})` : frame.error };
    // The server ended the subscription (the source went away): ask again a little later.
    if (frame.field === null && this.subscribedOnce && this.connected) outcome.resubscribeIn = RESUBSCRIBE_MS;
    return outcome;
  }

  // Where the next subscribe starts: past the newest item seen of each partition, stream or bucket.
  track(item) {
    if (this.source === "topic") {
      this.positions = this.positions || {};
      const next = item.offset + 1;
      if (!(item.partition in this.positions) || this.positions[item.partition] < next) this.positions[item.partition] = next;
    } else if (this.source === "stream" && item.seq) {
      this.nextSeq = Math.max(this.nextSeq || 0, item.seq + 1);
    } else if (this.source === "kv" && item.revision) {
      this.nextSeq = Math.max(this.nextSeq || 0, item.revision + 1);
    }
  }

  // Status frames come every second; between them the counts must still add up on screen:
  // every message received or dropped was matched, and every match was scanned.
  counts() {
    const matched = Math.max(this.matched, this.received - this.receivedBefore + this.totalDropped);
    return { received: this.received, matched, scanned: Math.max(this.scanned, matched), dropped: this.totalDropped };
  }

  closed(code, reason) {
    this.connected = false;
    if (NO_RETRY[code]) return { state: ["closed", "down"], error: NO_RETRY[code] };
    if (code === 4408 && this.paused) {
      // Paused longer than the server keeps a socket for nobody: Resume reconnects.
      this.closedWhilePaused = true;
      this.reconnecting = this.subscribedOnce;
      if (this.lostAt === null) this.lostAt = this.now();
      return {
        state: ["paused (disconnected)", "paused"],
        notice: "Paused too long: the server closed the tail. Resume reconnects and goes on from where it stopped.",
      };
    }
    const outcome = {};
    if (code === 4429) outcome.error = reason || "Too many live tails are open: close one.";
    if (this.lostAt === null) this.lostAt = this.now();
    this.reconnecting = this.subscribedOnce;
    // Jittered so that the tabs of a restarted web process do not all come back at once.
    const delay = Math.min(MOST_BACKOFF_SECONDS, 2 ** this.attempt) * (0.75 + this.random() / 2);
    this.attempt += 1;
    outcome.state = [`reconnecting in ${Math.round(delay)} s`, "down"];
    outcome.notice = `Disconnected (${WHY_CLOSED[code] || "the connection was lost"}); reconnecting by itself.`;
    outcome.reconnectIn = delay * 1000;
    return outcome;
  }

  togglePause() {
    this.paused = !this.paused;
    if (this.paused) {
      this.matchedAtPause = this.matched;
      return { send: [{ action: "pause" }], state: ["paused", "paused"] };
    }
    if (this.closedWhilePaused) {
      this.closedWhilePaused = false;
      return { pausedCount: null, connect: true };
    }
    return { send: [{ action: "resume" }], pausedCount: null, state: ["live", "live"] };
  }

  liveState() {
    return this.paused ? ["paused", "paused"] : ["live", "live"];
  }
}

// The newest `most` of a batch (items come oldest first).
export function newest(items, most) {
  return items.length > most ? items.slice(-most) : items;
}

// How many rows the page keeps: at most `most` drawn, and while the tab is hidden at most `most`
// held back (the newest), drawn when it is looked at again.
export class RowWindow {
  constructor(most) {
    this.most = most;
    this.count = 0;
    this.held = [];
  }

  // A batch to draw: its rows (the newest that fit) and how many of the oldest drawn rows to remove.
  admit(items) {
    const shown = newest(items, this.most);
    this.count += shown.length;
    const evict = Math.max(0, this.count - this.most);
    this.count -= evict;
    return { shown, evict };
  }

  hold(items) {
    this.held.push(...items);
    if (this.held.length > this.most) this.held.splice(0, this.held.length - this.most);
  }

  release() {
    const items = this.held;
    this.held = [];
    return items;
  }

  clear() {
    this.count = 0;
    this.held = [];
  }
}
