// The live tail page's protocol module, without a browser: node --test tests/js/
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { newest, NO_RETRY, parseFrame, RowWindow, TailProtocol } from "../../static/js/tail/protocol.js";

const SUBSCRIBE = {
  topic: { action: "subscribe", source: "topic", name: "orders", from: "beginning", partitions: null, filter: null },
  stream: { action: "subscribe", source: "stream", name: "ORDERS", from: { last: 10 }, filter: null },
  kv: { action: "subscribe", source: "kv", name: "config", from: "beginning", keys: null },
  subject: { action: "subscribe", source: "subject", name: "sensors.*", from: "now", filter: null },
};

// A tail with a clock the test moves and randomness fixed at the middle of the jitter (factor 1).
function tail(source, start = 1_000_000) {
  const clock = { now: start };
  const protocol = new TailProtocol(
    { source, name: SUBSCRIBE[source].name, subscribe: SUBSCRIBE[source] },
    { now: () => clock.now, random: () => 0.5 },
  );
  protocol.connecting();
  return { protocol, clock };
}

function messages(seq, items, { dropped = 0, totalDropped = 0, token = `t${seq}` } = {}) {
  return { type: "messages", seq, items, dropped, total_dropped: totalDropped, token };
}

const subscribed = (extra = {}) => ({ type: "subscribed", source: "topic", name: "orders", from: "beginning", ...extra });
const kafka = (partition, offset) => ({ partition, offset, timestamp: "2026-01-01T00:00:00Z", key: null, headers: [], value: null });
const acks = (outcome) => (outcome.send || []).filter((frame) => frame.action === "ack");

describe("acks", () => {
  test("every messages frame is acknowledged once, echoing its seq and token", () => {
    const { protocol } = tail("subject");
    protocol.handle(subscribed());
    const sent = [];
    for (let seq = 1; seq <= 5; seq += 1) {
      const outcome = protocol.handle(messages(seq, [{ subject: "a", seq: null }], { token: `secret-${seq}` }));
      assert.equal(outcome.items.length, 1);
      sent.push(...acks(outcome));
    }
    assert.deepEqual(
      sent,
      [1, 2, 3, 4, 5].map((seq) => ({ action: "ack", seq, token: `secret-${seq}` })),
    );
  });

  test("an empty frame is acknowledged too, and a frame without a token gets an ack without one", () => {
    const { protocol } = tail("subject");
    assert.deepEqual(acks(protocol.handle(messages(1, [], { token: "x" }))), [{ action: "ack", seq: 1, token: "x" }]);
    const { token, ...untokened } = messages(2, []);
    assert.equal(token, "t2");
    const [ack] = acks(protocol.handle(untokened));
    assert.equal(JSON.stringify(ack), '{"action":"ack","seq":2}');
  });

  test("no other frame is acknowledged", () => {
    const { protocol } = tail("topic");
    const frames = [
      subscribed(),
      { type: "status", matched: 3, scanned: 9, total_dropped: 0, rate: 1.5 },
      { type: "error", error: "no such topic", field: "name" },
      { type: "something new", seq: 7, token: "t7" },
    ];
    for (const frame of frames) assert.deepEqual(acks(protocol.handle(frame)), []);
  });
});

describe("counts", () => {
  test("received adds up the items, dropped is the server's total, matched covers both", () => {
    const { protocol } = tail("topic");
    protocol.handle(subscribed());
    protocol.handle(messages(1, [kafka(0, 0), kafka(0, 1)]));
    assert.deepEqual(protocol.counts(), { received: 2, matched: 2, scanned: 2, dropped: 0 });
    // The tab fell behind: the server dropped 5 of the oldest and says so in the next frame.
    protocol.handle(messages(2, [kafka(0, 7)], { dropped: 5, totalDropped: 5 }));
    assert.deepEqual(protocol.counts(), { received: 3, matched: 8, scanned: 8, dropped: 5 });
  });

  test("a status frame's figures win where they are larger, and never make the sum fall short", () => {
    const { protocol } = tail("topic");
    protocol.handle(subscribed());
    const outcome = protocol.handle({ type: "status", matched: 20, scanned: 100, total_dropped: 4, rate: 2.5 });
    assert.equal(outcome.counts, true);
    assert.equal(outcome.rate, 2.5);
    assert.deepEqual(protocol.counts(), { received: 0, matched: 20, scanned: 100, dropped: 4 });
    // Received since that status: matched can only have grown.
    protocol.handle(messages(1, Array.from({ length: 30 }, (_, i) => kafka(0, i)), { totalDropped: 4 }));
    assert.deepEqual(protocol.counts(), { received: 30, matched: 34, scanned: 100, dropped: 4 });
  });

  test("a new subscription counts matches from zero but received goes on over every socket", () => {
    const { protocol } = tail("topic");
    protocol.handle(subscribed());
    protocol.handle(messages(1, [kafka(0, 0), kafka(0, 1), kafka(0, 2)], { totalDropped: 2 }));
    protocol.closed(1006, "");
    protocol.connecting();
    protocol.handle(subscribed());
    assert.deepEqual(protocol.counts(), { received: 3, matched: 0, scanned: 0, dropped: 0 });
    protocol.handle(messages(1, [kafka(0, 3)]));
    assert.deepEqual(protocol.counts(), { received: 4, matched: 1, scanned: 1, dropped: 0 });
  });

  test("while paused, the status line counts what matched since the pause", () => {
    const { protocol } = tail("subject");
    protocol.handle(subscribed());
    protocol.handle({ type: "status", matched: 10, scanned: 10, total_dropped: 0, rate: 0 });
    assert.deepEqual(protocol.togglePause(), { send: [{ action: "pause" }], state: ["paused", "paused"] });
    const outcome = protocol.handle({ type: "status", matched: 17, scanned: 17, total_dropped: 0, rate: 1 });
    assert.equal(outcome.pausedCount, 7);
    assert.deepEqual(outcome.state, ["paused", "paused"]);
    assert.deepEqual(protocol.togglePause(), { send: [{ action: "resume" }], pausedCount: null, state: ["live", "live"] });
    assert.equal(protocol.handle({ type: "status", matched: 18, scanned: 18, total_dropped: 0, rate: 1 }).pausedCount, null);
  });
});

describe("resuming after a reconnect", () => {
  test("the first subscribe is the page's own", () => {
    const { protocol } = tail("topic");
    assert.deepEqual(protocol.opened(), { state: ["subscribing…"], send: [SUBSCRIBE.topic] });
  });

  test("Kafka resumes at the next offset of each partition, never going back", () => {
    const { protocol } = tail("topic");
    protocol.handle(subscribed({ start: { offsets: { 0: 5, 1: 0, 2: 9 } } }));
    protocol.handle(messages(1, [kafka(0, 5), kafka(1, 0), kafka(0, 6)]));
    protocol.handle(messages(2, [kafka(1, 1), kafka(0, 3)])); // an older offset does not move 0 back
    protocol.closed(1006, "");
    const [frame] = protocol.opened().send;
    assert.deepEqual(frame, { ...SUBSCRIBE.topic, from: { offsets: { 0: 7, 1: 2, 2: 9 } } });
  });

  test("the start a reconnect's subscribed frame reports does not replace the positions seen", () => {
    const { protocol } = tail("topic");
    protocol.handle(subscribed({ start: { offsets: { 0: 0 } } }));
    protocol.handle(messages(1, [kafka(0, 0)]));
    protocol.closed(1006, "");
    protocol.connecting();
    protocol.handle(subscribed({ start: { offsets: { 0: 0 } } }));
    assert.deepEqual(protocol.subscribeFrame().from, { offsets: { 0: 1 } });
  });

  test("JetStream resumes at the next sequence, a bucket at the next revision", () => {
    const stream = tail("stream").protocol;
    stream.handle(subscribed({ start: { seq: 40 } }));
    stream.handle(messages(1, [{ subject: "o.1", seq: 40 }, { subject: "o.2", seq: 42 }]));
    stream.closed(1006, "");
    assert.deepEqual(stream.subscribeFrame(), { ...SUBSCRIBE.stream, from: { seq: 43 } });

    const bucket = tail("kv").protocol;
    bucket.handle(subscribed());
    bucket.handle(messages(1, [{ key: "a", revision: 3, operation: "PUT" }, { key: "b", revision: 8, operation: "DEL" }]));
    assert.deepEqual(bucket.subscribeFrame(), { ...SUBSCRIBE.kv, from: { seq: 9 } });
  });

  test("a stream that had nothing yet resumes where the server said it started", () => {
    const { protocol } = tail("stream");
    protocol.handle(subscribed({ start: { seq: 12 } }));
    assert.deepEqual(protocol.subscribeFrame().from, { seq: 12 });
  });

  test("core NATS starts from now again and says what the gap missed", () => {
    const { protocol, clock } = tail("subject");
    protocol.handle(subscribed());
    protocol.closed(1006, "");
    clock.now += 4200;
    assert.deepEqual(protocol.subscribeFrame(), { ...SUBSCRIBE.subject, from: "now" });
    const outcome = protocol.handle(subscribed());
    assert.match(outcome.notice, /Core NATS keeps no history: messages published during the 4\.2 s gap were missed\./);
    assert.equal(outcome.error, "");
  });

  test("a stored source says nothing was missed; a first subscribe shows the server's notice", () => {
    const { protocol } = tail("stream");
    assert.equal(protocol.handle(subscribed({ notice: "Replaying 10." })).notice, "Replaying 10.");
    protocol.closed(1001, "");
    assert.match(protocol.handle(subscribed({ notice: "Replaying 10." })).notice, /resumed from where it stopped/);
    assert.equal(protocol.handle(subscribed()).notice, undefined);
  });
});

describe("reconnecting", () => {
  test("backoff doubles up to 30 s and starts again after a subscribe", () => {
    const { protocol } = tail("topic");
    const delays = [];
    for (let i = 0; i < 7; i += 1) delays.push(protocol.closed(1006, "").reconnectIn);
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    protocol.connecting();
    protocol.handle(subscribed());
    const outcome = protocol.closed(1006, "");
    assert.equal(outcome.reconnectIn, 1000);
    assert.deepEqual(outcome.state, ["reconnecting in 1 s", "down"]);
    assert.equal(outcome.notice, "Disconnected (the connection was lost); reconnecting by itself.");
  });

  test("the jitter stays within a quarter either side", () => {
    for (const [random, delay] of [[0, 750], [0.999999, 1250]]) {
      const protocol = new TailProtocol({ source: "topic", subscribe: SUBSCRIBE.topic }, { random: () => random });
      assert.ok(Math.abs(protocol.closed(1006, "").reconnectIn - delay) < 1);
    }
  });

  test("refusals are final and say why", () => {
    for (const code of [4401, 4403, 4404]) {
      const outcome = tail("topic").protocol.closed(code, "");
      assert.deepEqual(outcome, { state: ["closed", "down"], error: NO_RETRY[code] });
    }
  });

  test("too many tails shows the server's reason and still tries again", () => {
    const { protocol } = tail("topic");
    const outcome = protocol.closed(4429, "5 tails are open for you");
    assert.equal(outcome.error, "5 tails are open for you");
    assert.equal(outcome.notice, "Disconnected (too many tails); reconnecting by itself.");
    assert.equal(outcome.reconnectIn, 1000);
    assert.equal(protocol.closed(4429, "").error, "Too many live tails are open: close one.");
  });

  test("a slow tab is reconnected; a tab paused too long waits for Resume", () => {
    const slow = tail("topic").protocol;
    assert.equal(slow.closed(4408, "").notice, "Disconnected (the tab did not keep up); reconnecting by itself.");

    const { protocol, clock } = tail("subject");
    protocol.handle(subscribed());
    protocol.togglePause();
    const outcome = protocol.closed(4408, "");
    assert.equal(outcome.reconnectIn, undefined);
    assert.deepEqual(outcome.state, ["paused (disconnected)", "paused"]);
    clock.now += 60_000;
    assert.deepEqual(protocol.togglePause(), { pausedCount: null, connect: true });
    protocol.connecting();
    const back = protocol.handle(subscribed());
    assert.match(back.notice, /during the 60\.0 s gap/);
    assert.deepEqual(back.state, ["live", "live"]);
    assert.equal(back.send, undefined);
  });

  test("a tab still paused when it resubscribes asks the server to pause again", () => {
    const { protocol } = tail("stream");
    protocol.handle(subscribed());
    protocol.togglePause();
    protocol.closed(1006, "");
    protocol.connecting();
    const outcome = protocol.handle(subscribed());
    assert.deepEqual(outcome.send, [{ action: "pause" }]);
    assert.deepEqual(outcome.state, ["paused", "paused"]);
  });

  test("status says live only while a socket is there", () => {
    const { protocol } = tail("topic");
    const status = { type: "status", matched: 0, scanned: 0, total_dropped: 0, rate: 0 };
    assert.equal(protocol.handle(status).state, undefined); // not subscribed yet
    protocol.handle(subscribed());
    assert.deepEqual(protocol.handle(status).state, ["live", "live"]);
    assert.deepEqual(protocol.handle({ ...status, upstream: "down" }).state, ["broker unreachable", "down"]);
    protocol.closed(1006, "");
    assert.equal(protocol.handle(status).state, undefined);
  });
});

describe("errors", () => {
  test("a broker outage the server retries is a notice", () => {
    const outcome = tail("topic").protocol.handle({ type: "error", error: "broker down", field: null, retrying: true });
    assert.deepEqual(outcome, { state: ["broker unreachable", "down"], notice: "broker down" });
  });

  test("a bad field is shown with its name and not retried", () => {
    const { protocol } = tail("topic");
    protocol.handle(subscribed());
    assert.deepEqual(protocol.handle({ type: "error", error: "not a number", field: "from" }), { error: "not a number (from)" });
  });

  test("a subscription the server ended is asked for again in 5 s, only when there is a socket", () => {
    const { protocol } = tail("stream");
    assert.equal(protocol.handle({ type: "error", error: "gone", field: null }).resubscribeIn, undefined);
    protocol.handle(subscribed());
    assert.deepEqual(protocol.handle({ type: "error", error: "gone", field: null }), { error: "gone", resubscribeIn: 5000 });
    protocol.closed(1006, "");
    assert.equal(protocol.handle({ type: "error", error: "gone", field: null }).resubscribeIn, undefined);
  });
});

describe("frames the page does not know", () => {
  test("an unknown type asks for nothing and changes nothing", () => {
    const { protocol } = tail("topic");
    protocol.handle(subscribed());
    protocol.handle(messages(1, [kafka(0, 0)]));
    const before = JSON.stringify(protocol);
    for (const frame of [{ type: "hello", items: [kafka(0, 99)], seq: 2, token: "t" }, { items: [] }, { type: null }]) {
      assert.deepEqual(protocol.handle(frame), {});
    }
    assert.equal(JSON.stringify(protocol), before);
  });

  test("text that is not a JSON object is no frame", () => {
    for (const text of ["", "not json", "{", "null", "42", '"messages"', "[1, 2]"]) assert.equal(parseFrame(text), null);
    assert.deepEqual(parseFrame('{"type": "status", "rate": 1}'), { type: "status", rate: 1 });
    assert.deepEqual(tail("topic").protocol.handle(null), {});
  });
});

describe("rows kept", () => {
  test("a batch larger than the window draws only its newest", () => {
    assert.deepEqual(newest([1, 2, 3, 4, 5], 3), [3, 4, 5]);
    assert.deepEqual(newest([1, 2], 3), [1, 2]);
    const rows = new RowWindow(3);
    assert.deepEqual(rows.admit([1, 2, 3, 4, 5]), { shown: [3, 4, 5], evict: 0 });
    assert.equal(rows.count, 3);
  });

  test("drawn rows never exceed the window: the oldest are removed", () => {
    const rows = new RowWindow(4);
    assert.deepEqual(rows.admit([1, 2, 3]), { shown: [1, 2, 3], evict: 0 });
    assert.deepEqual(rows.admit([4, 5]), { shown: [4, 5], evict: 1 });
    assert.deepEqual(rows.admit([6, 7, 8, 9, 10]), { shown: [7, 8, 9, 10], evict: 4 });
    assert.deepEqual(rows.admit([]), { shown: [], evict: 0 });
    assert.equal(rows.count, 4);
  });

  test("a hidden tab holds back only the newest rows, and hands them over once", () => {
    const rows = new RowWindow(3);
    rows.hold([1, 2]);
    rows.hold([3, 4, 5]);
    assert.deepEqual(rows.held, [3, 4, 5]);
    assert.deepEqual(rows.release(), [3, 4, 5]);
    assert.deepEqual(rows.release(), []);
  });

  test("clearing forgets drawn and held rows", () => {
    const rows = new RowWindow(2);
    rows.admit([1, 2]);
    rows.hold([3]);
    rows.clear();
    assert.equal(rows.count, 0);
    assert.deepEqual(rows.release(), []);
    assert.deepEqual(rows.admit([4]), { shown: [4], evict: 0 });
  });
});

test("the rows module loads without a DOM until it draws", async () => {
  const { TailRows } = await import("../../static/js/tail/rows.js");
  assert.equal(typeof TailRows, "function");
});
