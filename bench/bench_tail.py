"""Live tail under load, on a real Daphne with its own nats-server and Kafka, measured from outside.

- Throughput from core NATS and from a Kafka topic into one WebSocket client (a Python
  client that acknowledges every frame, as the page does): paced at 25,000 msg/s for 10 s,
  and a flood as fast as a publisher can; received + dropped is checked against published.
  The baselines are bare nats-py and confluent-kafka consumer loops in this process, fed
  the same way in the same run.
- Publish-to-socket latency at 1,000 msg/s (the publisher stamps each message with the
  wall clock; same machine, same clock).
- 200 sockets on one subject: the server's own subsz count of subscriptions on it, and
  the web process's CPU and RSS.
- A socket that never reads during a 1,000,000-message flood: the web process's RSS.
- A real Chromium tab on the live page at 5,000 msg/s for 60 s: timer lag, evaluate
  round trips, JS heap and DOM size.

Publishers run as their own processes (bench/_publish.py). Messages are ~100 bytes of JSON.

    .venv/bin/python -m bench.bench_tail
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._common import command, kafka_label, kafka_server, machine, rss_mb

ROOT = Path(__file__).resolve().parents[1]
SIZE = 100
PACED_RATE = 25_000
PACED_SECONDS = 10
FLOOD = 300_000
LATENCY_RATE = 1000
LATENCY_SECONDS = 10
FAN_SOCKETS = 200
FAN_RATE = 100
FAN_SECONDS = 10
STALL_COUNT = 1_000_000
STALL_RATE = 50_000
BROWSER_RATE = 5000
BROWSER_SECONDS = 60
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync", "--enable-precise-memory-info"]
TICK = os.sysconf("SC_CLK_TCK")


def log(text: str) -> None:
    print(f"[bench_tail] {text}", file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def publisher(kind: str, target: str, name: str, count: int, rate: float) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "bench._publish", kind, target, name, str(count), str(rate), str(SIZE)]
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE)


def finished(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=600)
    return json.loads(out.decode().strip().splitlines()[-1])


# -- a tail client ----------------------------------------------------------------------


class Tail:
    def __init__(self, web: Any, cluster: str) -> None:
        from websockets.asyncio.client import connect

        self.connect = connect(
            f"{web.ws_url}/ws/clusters/{cluster}/tail",
            additional_headers={"Authorization": f"Bearer {web.token}"},
            max_size=None,
            open_timeout=30,
        )
        self.received = 0
        self.dropped = 0
        # Items a schema decoded (their value carries ``decoded``).
        self.decoded = 0
        self.first = 0.0
        self.last = 0.0
        self.latencies: list[float] = []
        self.status: dict[str, Any] = {}

    async def __aenter__(self) -> Tail:
        self.ws = await self.connect.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.connect.__aexit__(*exc)

    async def subscribe(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps({"action": "subscribe", **frame}))
        while True:
            answer = json.loads(await self.ws.recv())
            if answer["type"] == "subscribed":
                return
            if answer["type"] == "error":
                raise RuntimeError(answer)

    async def read(self, expect: int, *, quiet: float = 5.0, stamps: bool = False) -> None:
        """Frames until ``expect`` messages were received or dropped (or nothing came for ``quiet`` s)."""
        while self.received + self.dropped < expect:
            try:
                raw = await asyncio.wait_for(self.ws.recv(), quiet)
            except TimeoutError:
                return
            frame = json.loads(raw)
            if frame["type"] == "status":
                self.status = frame
            if frame["type"] != "messages":
                continue
            now = time.perf_counter()
            self.first = self.first or now
            self.last = now
            items = frame["items"]
            self.received += len(items)
            self.decoded += sum(1 for item in items if (item.get("value") or {}).get("decoded"))
            self.dropped = frame["total_dropped"]
            await self.ws.send(json.dumps({"action": "ack", "seq": frame["seq"], "token": frame["token"]}))
            if stamps:
                wall = time.time_ns()
                self.latencies.extend((wall - json.loads(item["value"]["text"])["t"]) / 1e6 for item in items)

    async def final_status(self, timeout: float = 12.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                frame = json.loads(await asyncio.wait_for(self.ws.recv(), deadline - time.monotonic()))
            except TimeoutError:
                break
            if frame["type"] == "messages":
                self.received += len(frame["items"])
                self.decoded += sum(1 for item in frame["items"] if (item.get("value") or {}).get("decoded"))
                self.dropped = frame["total_dropped"]
                await self.ws.send(json.dumps({"action": "ack", "seq": frame["seq"], "token": frame["token"]}))
            elif frame["type"] == "status":
                self.status = frame
                if frame.get("buffered", 0) == 0 and frame.get("in_flight", 0) == 0:
                    break
        return self.status

    @property
    def rate(self) -> float:
        return self.received / (self.last - self.first) if self.last > self.first else 0.0


async def tail_run(
    web: Any, cluster: str, frame: dict[str, Any], start: Callable[[], subprocess.Popen[bytes]], count: int
) -> dict[str, Any]:
    async with Tail(web, cluster) as tail:
        await tail.subscribe(frame)
        cpu0, t0 = cpu_seconds(web.pid), time.perf_counter()
        proc = start()
        await tail.read(count)
        cpu = (cpu_seconds(web.pid) - cpu0) / (time.perf_counter() - t0)
        sent = await asyncio.to_thread(finished, proc)
        status = await tail.final_status()
        return {
            "published": count,
            "published_rate": count / sent["seconds"],
            "received": tail.received,
            "dropped": tail.dropped,
            "matched": status.get("matched"),
            "rate": tail.rate,
            "web_cpu": cpu,
        }


# -- baselines --------------------------------------------------------------------------


async def bare_nats(url: str, subject: str, count: int, rate: float) -> float:
    import nats

    nc = await nats.connect(url)
    got = 0
    first = last = 0.0

    done = asyncio.Event()

    async def on_msg(msg: Any) -> None:
        nonlocal got, first, last
        now = time.perf_counter()
        first = first or now
        last = now
        got += 1
        if got >= count:
            done.set()

    await nc.subscribe(subject, cb=on_msg, pending_msgs_limit=5_000_000, pending_bytes_limit=1 << 30)
    await nc.flush()
    proc = publisher("nats", url, subject, count, rate)
    await asyncio.to_thread(finished, proc)
    try:
        await asyncio.wait_for(done.wait(), 10)
    except TimeoutError:
        log(f"bare nats-py loop: {got} of {count} arrived")
    await nc.close()
    return got / (last - first) if last > first else 0.0


def bare_kafka(bootstrap: str, topic: str, partitions: int, count: int) -> float:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-bare", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    got = 0
    first = last = 0.0
    deadline = time.monotonic() + 120
    while got < count and time.monotonic() < deadline:
        for msg in consumer.consume(1000, 0.5):
            if msg.error() is None:
                got += 1
                now = time.perf_counter()
                first = first or now
                last = now
    consumer.close()
    return got / (last - first) if last > first else 0.0


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(20)
    deadline = time.monotonic() + 20
    while name not in admin.list_topics(timeout=5).topics and time.monotonic() < deadline:
        time.sleep(0.1)


# -- the scenarios ----------------------------------------------------------------------


async def throughput(web: Any, nats_url: str, bootstrap: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    paced = PACED_RATE * PACED_SECONDS
    log("NATS paced")
    results["nats_paced"] = await tail_run(
        web,
        "nats",
        {"source": "subject", "name": "bench.paced"},
        lambda: publisher("nats", nats_url, "bench.paced", paced, PACED_RATE),
        paced,
    )
    log("NATS flood")
    results["nats_flood"] = await tail_run(
        web,
        "nats",
        {"source": "subject", "name": "bench.flood"},
        lambda: publisher("nats", nats_url, "bench.flood", FLOOD, 0),
        FLOOD,
    )
    log("NATS bare")
    results["nats_bare_paced"] = await bare_nats(nats_url, "bench.bare.paced", paced, PACED_RATE)
    results["nats_bare_flood"] = await bare_nats(nats_url, "bench.bare.flood", FLOOD, 0)

    log("Kafka paced")
    await asyncio.to_thread(create_topic, bootstrap, "bench-paced", 3)
    results["kafka_paced"] = await tail_run(
        web,
        "kafka",
        {"source": "topic", "name": "bench-paced"},
        lambda: publisher("kafka", bootstrap, "bench-paced", paced, PACED_RATE),
        paced,
    )
    log("Kafka flood")
    await asyncio.to_thread(create_topic, bootstrap, "bench-flood", 3)
    results["kafka_flood"] = await tail_run(
        web,
        "kafka",
        {"source": "topic", "name": "bench-flood"},
        lambda: publisher("kafka", bootstrap, "bench-flood", FLOOD, 0),
        FLOOD,
    )
    log("Kafka replay")

    def nothing() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", 'print(\'{"sent": 0, "seconds": 1}\')'], stdout=subprocess.PIPE)

    results["kafka_replay"] = await tail_run(
        web, "kafka", {"source": "topic", "name": "bench-flood", "from": "beginning"}, nothing, FLOOD
    )
    results["kafka_replay"]["stored"] = True
    results["kafka_bare_replay"] = await asyncio.to_thread(bare_kafka, bootstrap, "bench-flood", 3, FLOOD)
    return results


async def latency(web: Any, nats_url: str, bootstrap: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    count = LATENCY_RATE * LATENCY_SECONDS
    await asyncio.to_thread(create_topic, bootstrap, "bench-latency", 1)
    for key, cluster, frame, kind, target, name in (
        ("nats", "nats", {"source": "subject", "name": "bench.latency"}, "nats", nats_url, "bench.latency"),
        ("kafka", "kafka", {"source": "topic", "name": "bench-latency"}, "kafka", bootstrap, "bench-latency"),
    ):
        log(f"latency {key}")
        async with Tail(web, cluster) as tail:
            await tail.subscribe(frame)
            proc = publisher(kind, target, name, count, LATENCY_RATE)
            await tail.read(count, stamps=True)
            await asyncio.to_thread(finished, proc)
            ordered = sorted(tail.latencies)
            results[key] = {
                "n": len(ordered),
                "p50": statistics.median(ordered),
                "p99": ordered[int(len(ordered) * 0.99) - 1],
                "max": ordered[-1],
            }
    return results


async def fan_out(web: Any, nats_url: str, monitor: str) -> dict[str, Any]:
    import httpx

    log("fan-out")
    subject = "bench.fan"
    count = FAN_RATE * FAN_SECONDS
    rss_idle = rss_mb(web.pid)
    tails = [Tail(web, "nats") for _ in range(FAN_SOCKETS)]
    for tail in tails:
        await tail.__aenter__()
    await asyncio.gather(*(tail.subscribe({"source": "subject", "name": subject}) for tail in tails))
    async with httpx.AsyncClient() as client:
        subsz = (await client.get(f"{monitor}/subsz", params={"subs": 1, "test": subject})).json()
    upstreams = sum(1 for sub in subsz.get("subscriptions_list") or [] if sub["subject"] == subject)
    rss_sockets = rss_mb(web.pid)
    cpu0, t0 = cpu_seconds(web.pid), time.perf_counter()
    proc = publisher("nats", nats_url, subject, count, FAN_RATE)
    await asyncio.gather(*(tail.read(count, quiet=5) for tail in tails))
    wall = time.perf_counter() - t0
    cpu = (cpu_seconds(web.pid) - cpu0) / wall
    rss_busy = rss_mb(web.pid)
    await asyncio.to_thread(finished, proc)
    complete = sum(1 for tail in tails if tail.received + tail.dropped == count)
    dropped = sum(tail.dropped for tail in tails)
    for tail in tails:
        await tail.__aexit__(None, None, None)
    return {
        "upstreams": upstreams,
        "rss_idle": rss_idle,
        "rss_sockets": rss_sockets,
        "rss_busy": rss_busy,
        "cpu": cpu,
        "complete": complete,
        "dropped": dropped,
    }


async def stalled(web: Any, nats_url: str) -> dict[str, Any]:
    log("stalled socket flood")
    subject = "bench.stalled"
    async with Tail(web, "nats") as tail:
        await tail.subscribe({"source": "subject", "name": subject})
        rss0 = peak = rss_mb(web.pid)
        proc = publisher("nats", nats_url, subject, STALL_COUNT, STALL_RATE)
        while proc.poll() is None:
            peak = max(peak, rss_mb(web.pid))
            await asyncio.sleep(0.2)
        sent = finished(proc)
        await asyncio.sleep(1)
        peak = max(peak, rss_mb(web.pid))
        # Now it reads: what it gets and what it is told it lost must add up.
        await tail.read(STALL_COUNT, quiet=5)
        status = await tail.final_status()
        return {
            "rss_before": rss0,
            "rss_peak": peak,
            "published_rate": STALL_COUNT / sent["seconds"],
            "received": tail.received,
            "dropped": tail.dropped,
            "matched": status.get("matched"),
        }


def browser(web: Any, nats_url: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from dev.webprocess import PASSWORD, USERNAME

    log("chromium")
    count = BROWSER_RATE * BROWSER_SECONDS
    samples: list[dict[str, float]] = []
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = chromium.new_page()
            page.goto(f"{web.url}/accounts/login/?next=/clusters/nats/live%3Fsubject%3Dbench.browser")
            page.get_by_label("Username").fill(USERNAME)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_selector("#tail-state.live", timeout=30_000)
            hidden = page.evaluate("document.hidden")
            page.evaluate(
                """() => { window.__lag = 0; let last = performance.now();
                setInterval(() => { const now = performance.now();
                window.__lag = Math.max(window.__lag, now - last - 100); last = now; }, 100); }"""
            )
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")

            def metrics() -> dict[str, float]:
                found = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
                started = time.perf_counter()
                page.evaluate("1")
                return {
                    "heap_mb": found["JSHeapUsedSize"] / 2**20,
                    "nodes": found["Nodes"],
                    "eval_ms": (time.perf_counter() - started) * 1000,
                    "lag_ms": page.evaluate("window.__lag"),
                    "rows": page.locator("#tail-rows tr.row").count(),
                }

            samples.append(metrics())
            proc = publisher("nats", nats_url, "bench.browser", count, BROWSER_RATE)
            while proc.poll() is None:
                time.sleep(5)
                samples.append(metrics())
            sent = finished(proc)
            time.sleep(3)
            samples.append(metrics())
            numbers = page.evaluate(
                """() => ({received: +document.getElementById('tail-received').textContent,
                dropped: +document.getElementById('tail-dropped').textContent,
                matched: +document.getElementById('tail-matched').textContent})"""
            )
        finally:
            chromium.close()
    return {"hidden": hidden, "samples": samples, "published_rate": count / sent["seconds"], **numbers}


# -- running and reporting ----------------------------------------------------------------


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from dev import devstack
    from dev.webprocess import WebProcess

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        nats_server = devstack.nats_server(workdir).start()
        kafka = kafka_server(workdir)
        bootstrap = kafka.__enter__()
        nats_url = f"nats://127.0.0.1:{nats_server.port}"
        monitor = f"http://127.0.0.1:{nats_server.extra_ports['monitor']}"
        brokers = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "NATS_URL": nats_url, "NATS_MONITOR_URL": monitor}
        # The fan-out opens 200 sockets as one user: above the per-user default.
        limits = {"STREAMDESK_TAIL_MAX_SOCKETS_PER_USER": "1000", "STREAMDESK_TAIL_MAX_REPLAYS_PER_USER": "1000"}
        web = WebProcess(workdir / "web", brokers, limits).prepare().start()
        results: dict[str, Any] = {}
        try:
            results["rss_start"] = rss_mb(web.pid)
            results.update(asyncio.run(throughput(web, nats_url, bootstrap)))
            results["latency"] = asyncio.run(latency(web, nats_url, bootstrap))
            results["fan"] = asyncio.run(fan_out(web, nats_url, monitor))
            results["stalled"] = asyncio.run(stalled(web, nats_url))
            results["browser"] = browser(web, nats_url)
        finally:
            web.stop()
            kafka.__exit__(None, None, None)
            nats_server.stop()
    Path(ROOT / "var").mkdir(exist_ok=True)
    (ROOT / "var" / "bench_tail.json").write_text(json.dumps(results, indent=2))
    print(report(results))


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def report(r: dict[str, Any]) -> str:
    def row(label: str, x: dict[str, Any], baseline: float | None = None, target: str = "") -> str:
        exact = x["received"] + x["dropped"] == x["published"]
        ratio = f"{x['rate'] / baseline:.2f}x" if baseline else ""
        published = (
            f"{x['published']:,} stored" if x.get("stored") else f"{x['published']:,} at {x['published_rate']:,.0f}/s"
        )
        return (
            f"| {label} | {published} | {x['received']:,} | {x['dropped']:,} | "
            f"{_yes(exact)} | {x['rate']:,.0f} | {ratio} | {x['web_cpu'] * 100:.0f}% | {target} |"
        )

    lat = r["latency"]
    fan = r["fan"]
    st = r["stalled"]
    br = r["browser"]
    first, last = br["samples"][0], br["samples"][-1]
    peak_heap = max(s["heap_mb"] for s in br["samples"])
    peak_nodes = max(s["nodes"] for s in br["samples"])
    worst_lag = max(s["lag_ms"] for s in br["samples"])
    worst_eval = max(s["eval_ms"] for s in br["samples"])
    growth = st["rss_peak"] - st["rss_before"]
    sustained = [r["nats_paced"], r["kafka_paced"]]
    met = all(x["rate"] >= 20_000 and x["received"] + x["dropped"] == x["published"] for x in sustained)
    lines = [
        "## Live tail",
        "",
        f"Measured on {machine()}, against nats-server 2.15 and {kafka_label()} on localhost and a real Daphne "
        "web process "
        "(default settings: 10,000-message / 8 MB queue per socket, ack window 4 frames, frames every 50 ms or 64 KB), "
        "all started by the benchmark. The WebSocket client is Python (websockets) acknowledging every frame as the "
        f"page does; publishers are separate processes; messages are ~{SIZE} bytes of JSON. The machine's two cores "
        "are shared by the brokers, Daphne, the publisher and the client.",
        "",
        "| Into one socket | Published | Received | Dropped | Received + dropped = published "
        "| Received msg/s | vs bare client loop | Web CPU | Target |",
        "|---|---:|---:|---:|---|---:|---:|---:|---|",
        row("Core NATS, paced", r["nats_paced"], r["nats_bare_paced"], "≥ 20,000/s"),
        row("Core NATS, flood", r["nats_flood"], r["nats_bare_flood"]),
        row("Kafka topic (from now), paced", r["kafka_paced"], None, "≥ 20,000/s"),
        row("Kafka topic (from now), flood", r["kafka_flood"]),
        row("Kafka topic replay (from the beginning)", r["kafka_replay"], r["kafka_bare_replay"]),
        "",
        f"Bare loops in the same run: nats-py subscription callback {r['nats_bare_paced']:,.0f} msg/s paced and "
        f"{r['nats_bare_flood']:,.0f} msg/s under the flood; confluent-kafka `consume(1000)` reading the same "
        f"{FLOOD:,} messages from the beginning {r['kafka_bare_replay']:,.0f} msg/s. "
        f"Target ≥ 20,000 msg/s sustained: {_yes(met)}.",
        "",
        "| Latency, publish to socket, 1,000 msg/s for 10 s | p50 | p99 | max | Target p99 < 100 ms |",
        "|---|---:|---:|---:|---|",
        *[
            f"| {name} | {lat[key]['p50']:.1f} ms | {lat[key]['p99']:.1f} ms | {lat[key]['max']:.1f} ms "
            f"| {_yes(lat[key]['p99'] < 100)} |"
            for key, name in (("nats", "Core NATS"), ("kafka", "Kafka topic"))
        ],
        "",
        f"**{FAN_SOCKETS} sockets on one subject** ({FAN_RATE} msg/s for {FAN_SECONDS} s, so "
        f"{FAN_SOCKETS * FAN_RATE:,} deliveries/s): the server's `subsz` counts **{fan['upstreams']}** subscription "
        f"on the subject; {fan['complete']} of {FAN_SOCKETS} sockets got every message "
        f"({fan['dropped']} dropped in all); "
        f"web process CPU {fan['cpu'] * 100:.0f}% of one core; RSS {fan['rss_idle']:.0f} MB before the sockets, "
        f"{fan['rss_sockets']:.0f} MB with them, {fan['rss_busy']:.0f} MB after the traffic.",
        "",
        f"**A socket that never reads during a {STALL_COUNT:,}-message flood** ({st['published_rate']:,.0f} msg/s): "
        f"web process RSS {st['rss_before']:.0f} MB before, {st['rss_peak']:.0f} MB at the peak, growth "
        f"**{growth:.0f} MB** (target < 50 MB: {_yes(growth < 50)}). When it read again it got "
        f"{st['received']:,} and was told of {st['dropped']:,} dropped: "
        f"{st['received'] + st['dropped']:,} = {st['matched']:,} matched "
        f"({_yes(st['received'] + st['dropped'] == st['matched'])}).",
        "",
        f"**Chromium on the live page at {BROWSER_RATE:,} msg/s for {BROWSER_SECONDS} s** (published at "
        f"{br['published_rate']:,.0f}/s; the page was {'hidden' if br['hidden'] else 'visible'}): received "
        f"{br['received']:,}, dropped {br['dropped']:,}, matched {br['matched']:,}. Worst 100 ms-timer lag "
        f"{worst_lag:.0f} ms, worst `evaluate` round trip {worst_eval:.0f} ms; JS heap "
        f"{first['heap_mb']:.1f} MB at the start, {peak_heap:.1f} MB at the peak, "
        f"{last['heap_mb']:.1f} MB at the end; DOM nodes at most "
        f"{peak_nodes:,.0f}; rows shown {last['rows']:,} (bounded at 1,000).",
        "",
        command("tail", " (raw numbers in `var/bench_tail.json`)"),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
