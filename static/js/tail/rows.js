// The live tail's table: a row per message, its full view on click, and publish again. Broker data
// is hostile: every node is made with createElement and filled with textContent, never innerHTML.

const HEX_LIMIT = 4096;

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

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

function hex(base64) {
  const bytes = atob(base64);
  const parts = [];
  for (let i = 0; i < Math.min(bytes.length, HEX_LIMIT); i += 1) parts.push(bytes.charCodeAt(i).toString(16).padStart(2, "0"));
  return parts.join(" ");
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

export class TailRows {
  // tbody: where rows go; empty: the "waiting" line; kept: a RowWindow (how many rows are kept);
  // config and links: the page's tail-config and tail-links.
  constructor(tbody, empty, kept, config, links) {
    this.tbody = tbody;
    this.empty = empty;
    this.kept = kept;
    this.source = config.source;
    this.name = config.name;
    this.links = links;
    this.newestFirst = config.order !== "oldest";
    tbody.addEventListener("click", (event) => {
      if (event.target.closest("a, pre, details")) return;
      const row = event.target.closest("tr.row");
      if (row) this.toggle(row);
    });
    tbody.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && event.target.matches("tr.row")) this.toggle(event.target);
    });
  }

  // Hidden tabs keep only what they would show, and draw it when they are looked at again (reveal).
  add(items, hidden) {
    if (hidden) this.kept.hold(items);
    else this.draw(items);
  }

  reveal() {
    const items = this.kept.release();
    if (items.length) this.draw(items);
  }

  draw(items) {
    const { shown, evict } = this.kept.admit(items);
    if (!shown.length) return;
    const fragment = document.createDocumentFragment();
    const ordered = this.newestFirst ? [...shown].reverse() : shown;
    for (const item of ordered) fragment.append(this.makeRow(item));
    if (this.newestFirst) this.tbody.prepend(fragment);
    else this.tbody.append(fragment);
    for (let i = 0; i < evict; i += 1) {
      const oldest = this.newestFirst ? this.lastRow() : this.tbody.firstElementChild;
      if (!oldest) break;
      if (oldest.detail) oldest.detail.remove();
      oldest.remove();
    }
    this.empty.hidden = true;
  }

  lastRow() {
    let node = this.tbody.lastElementChild;
    while (node && !node.classList.contains("row")) node = node.previousElementSibling;
    return node;
  }

  clear() {
    this.tbody.replaceChildren();
    this.kept.clear();
    this.empty.hidden = false;
  }

  // Newest first <-> newest last, each row keeping its open detail under it.
  reverse() {
    this.newestFirst = !this.newestFirst;
    const pairs = [];
    for (const row of this.tbody.querySelectorAll("tr.row")) pairs.push(row.detail ? [row, row.detail] : [row]);
    pairs.reverse();
    this.tbody.replaceChildren(...pairs.flat());
    return this.newestFirst;
  }

  makeRow(item) {
    const row = el("tr", null, "row");
    row.tabIndex = 0;
    row.append(el("td", isoTime(item.timestamp || item.time || item.created), "nowrap"));
    if (this.source === "kv") {
      row.append(el("td", item.key, "wrap"), el("td", item.revision, "num"), el("td", item.operation));
      if (item.operation !== "PUT") row.classList.add("muted");
    } else if (this.source === "topic") {
      row.append(el("td", item.partition, "num"), el("td", item.offset, "num"), previewCell(item.key));
      row.dataset.partition = item.partition;
      row.dataset.offset = item.offset;
    } else {
      row.append(el("td", item.subject, "wrap"));
      if (this.source === "stream") row.append(el("td", item.seq, "num"));
    }
    row.append(previewCell(item.value));
    row.item = item;
    return row;
  }

  // -- a row's full view: the same payload view as the message browser ---------------------

  toggle(row) {
    if (row.detail) {
      row.detail.remove();
      row.detail = null;
      return;
    }
    const item = row.item;
    const detail = el("tr", null, "detail");
    const cell = el("td");
    cell.colSpan = row.children.length;
    const url = this.fullUrl(item);
    if (this.source === "topic") {
      cell.append(el("h4", "Key"), this.payloadView(item.key, item.key_size, item.truncated, url));
    } else if (item.reply) {
      cell.append(el("h4", "Reply to"), el("code", item.reply));
    }
    cell.append(el("h4", "Headers"));
    if (!item.headers.length) cell.append(el("span", "—", "muted"));
    for (const [name, value] of item.headers) {
      const line = el("div");
      line.append(el("code", name), document.createTextNode(": "), this.payloadView(value, null, false, null));
      cell.append(line);
    }
    cell.append(el("h4", "Value"), this.payloadView(item.value, item.size, item.truncated, url));
    const again = this.publishControls(item);
    if (again) cell.append(again);
    detail.append(cell);
    row.after(detail);
    row.detail = detail;
  }

  // Which schema read it: format and type, the registry's subject (linked), version and id, or the local file.
  schemaLine(decoded) {
    const line = el("p", `decoded · ${decoded.format}${decoded.type ? ` ${decoded.type}` : ""}`, "schema muted");
    if (decoded.subject) {
      line.append(document.createTextNode(" · "));
      if (this.links.schemas_base) {
        const link = el("a", decoded.subject);
        const path = decoded.subject.split("/").map(encodeURIComponent).join("/");
        link.href = `${this.links.schemas_base}${path}${decoded.version ? `?version=${decoded.version}` : ""}`;
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

  payloadView(payload, size, truncated, fullUrl) {
    const box = el("div");
    if (payload === null || payload === undefined) {
      box.append(el("span", "null", "muted"));
      return box;
    }
    if (payload.decoded) {
      // The decoded form by default; the raw bytes a click away.
      box.append(this.schemaLine(payload.decoded), el("pre", JSON.stringify(payload.decoded.data, null, 2), "payload decoded json"));
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

  fullUrl(item) {
    const links = this.links;
    if (this.source === "topic" && links.messages_url) {
      const query = new URLSearchParams({ partition: item.partition, offset: item.offset, full: "1" });
      return `${links.messages_url}?${query}`;
    }
    if (this.source === "stream" && links.message_base && item.seq) return `${links.message_base}${item.seq}?full=1`;
    if (this.source === "kv" && links.key_base) {
      const path = String(item.key).split("/").map(encodeURIComponent).join("/");
      return `${links.key_base}${path}?revision=${item.revision}`;
    }
    return null;
  }

  // -- publish again / edit and publish (operators) -----------------------------------------

  // What the publish endpoint needs to send this message again: a stored message by its
  // coordinates (the broker's own bytes), a core NATS message by its content when it was not cut.
  republishBody(item) {
    if (this.source === "topic") return { from_partition: item.partition, from_offset: item.offset };
    if (this.source === "stream" && item.seq) return { from_stream: this.name, from_seq: item.seq, mode: "jetstream" };
    if (item.truncated || item.headers.some(([, value]) => value && value.text === null)) return null;
    if (isMasked(item)) return null;
    return {
      subject: item.subject,
      value: item.value ? item.value.base64 : null,
      encoding: "base64",
      headers: item.headers.map(([name, value]) => [name, value ? value.text : ""]),
    };
  }

  editUrl(body) {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(body)) {
      if (name === "headers" || value === null) continue;
      query.set(name, value);
    }
    return `${this.links.publish_page}?${query}`;
  }

  publishControls(item) {
    const links = this.links;
    if (!links.publish_api) return null;
    const body = this.republishBody(item);
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
    edit.href = this.editUrl(body);
    box.append(button, document.createTextNode(" · "), edit, outcome);
    return box;
  }
}
