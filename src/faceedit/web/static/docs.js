// A small offline reference of the REST API, rendered from /openapi.json (no CDN, no build step).
"use strict";

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text != null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function resolve(spec, schema) {
  if (schema && schema.$ref) return spec.components.schemas[schema.$ref.split("/").pop()];
  return schema || {};
}

function typeOf(spec, schema) {
  schema = resolve(spec, schema);
  if (schema.anyOf) return schema.anyOf.map((s) => typeOf(spec, s)).join(" | ");
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (schema.type === "array") return `${typeOf(spec, schema.items)}[]`;
  if (schema.type === "object" && schema.additionalProperties) return `{name: ${typeOf(spec, schema.additionalProperties)}}`;
  return schema.format === "binary" ? "file" : (schema.type || "object");
}

function fieldTable(spec, rows) {
  const table = el("table");
  const head = el("tr");
  for (const h of ["name", "in", "type", "default", "description"]) head.appendChild(el("th", h));
  table.appendChild(head);
  for (const r of rows) {
    const tr = el("tr");
    tr.appendChild(el("td", r.name + (r.required ? " *" : "")));
    tr.appendChild(el("td", r.where));
    tr.appendChild(el("td", typeOf(spec, r.schema)));
    const d = resolve(spec, r.schema).default;
    tr.appendChild(el("td", d === undefined ? "" : JSON.stringify(d)));
    tr.appendChild(el("td", r.description || resolve(spec, r.schema).description || ""));
    table.appendChild(tr);
  }
  return table;
}

async function main() {
  const root = document.getElementById("api");
  const spec = await (await fetch("/openapi.json")).json();
  root.textContent = "";
  root.appendChild(el("p", spec.info.description));
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const box = el("div", null, "op");
      const h = el("h3");
      h.append(el("span", method.toUpperCase(), "method"), path);
      box.appendChild(h);
      box.appendChild(el("p", op.summary || ""));
      if (op.description) box.appendChild(el("p", op.description, "small"));
      const rows = (op.parameters || []).map((p) => ({ name: p.name, where: p.in, schema: p.schema,
        required: p.required, description: p.description }));
      const content = op.requestBody && op.requestBody.content;
      if (content) {
        const [ctype, media] = Object.entries(content)[0];
        const schema = resolve(spec, media.schema);
        if (schema.properties) {
          for (const [name, s] of Object.entries(schema.properties))
            rows.push({ name, where: ctype === "application/json" ? "body" : "form", schema: s,
              required: (schema.required || []).includes(name) });
        }
        if (Object.keys(content).length > 1) box.appendChild(el("p", `body: ${Object.keys(content).join(", ")}`, "small"));
      }
      if (rows.length) box.appendChild(fieldTable(spec, rows));
      const answers = Object.entries(op.responses || {}).map(([code, r]) =>
        `${code}: ${Object.keys(r.content || {}).join(", ") || r.description}`);
      box.appendChild(el("p", `responses — ${answers.join("; ")}`, "small"));
      root.appendChild(box);
    }
  }
}

main().catch((err) => { document.getElementById("api").textContent = `cannot load the API description: ${err}`; });
