/** The API reference page's HTML, script and styles, kept as strings so any runtime can serve them. */

export const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Postern API reference</title>
<link rel="stylesheet" href="/docs/assets/docs.css">
</head>
<body>
<header><h1>Postern API reference</h1><p id="meta">Loading <a href="/openapi.json">/openapi.json</a>…</p>
<input id="filter" type="search" placeholder="Filter routes" aria-label="Filter routes"></header>
<nav id="toc"></nav>
<main id="ops"></main>
<script src="/docs/assets/docs.js"></script>
</body>
</html>
`;

export const DOCS_CSS = `
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2330;background:#fafbfc}
header{padding:16px 24px;background:#1d2330;color:#fff}header h1{margin:0 0 4px;font-size:22px}
header a{color:#9cc3ff}#filter{margin-top:8px;padding:6px 10px;width:320px;max-width:90%;border-radius:4px;border:0}
nav{float:left;width:240px;padding:16px;position:sticky;top:0;max-height:100vh;overflow:auto}
nav a{display:block;color:#1d2330;text-decoration:none;padding:2px 0}nav h3{margin:12px 0 4px;font-size:13px;text-transform:uppercase;color:#667}
main{margin-left:272px;padding:16px 24px}
section.op{background:#fff;border:1px solid #dde1e7;border-radius:6px;margin:0 0 16px;padding:12px 16px}
.method{display:inline-block;min-width:58px;text-align:center;font-weight:700;border-radius:4px;padding:1px 6px;color:#fff;margin-right:8px;font-size:13px}
.get{background:#2f7d32}.post{background:#1565c0}.patch{background:#8d6e00}.put{background:#6a1b9a}.delete{background:#c62828}
code.path{font-size:15px}table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #e3e6ea;padding:3px 8px;text-align:left;font-size:13px;vertical-align:top}
pre{background:#f3f5f8;padding:8px;border-radius:4px;overflow:auto;font-size:12px;max-height:320px}
.lock{color:#8d6e00;font-size:12px;margin-left:8px}
`;

export const DOCS_JS = `
(function () {
  "use strict";
  var spec;
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }
  function resolve(schema) {
    if (schema && schema.$ref) {
      var name = schema.$ref.split("/").pop();
      return (spec.components && spec.components.schemas && spec.components.schemas[name]) || schema;
    }
    return schema;
  }
  function example(schema, depth) {
    schema = resolve(schema) || {};
    if (depth > 5) return null;
    if (schema.example !== undefined) return schema.example;
    if (schema.anyOf) return example(schema.anyOf[0], depth + 1);
    if (schema.oneOf) return example(schema.oneOf[0], depth + 1);
    if (schema.enum) return schema.enum[0];
    switch (schema.type) {
      case "object":
        var out = {};
        Object.keys(schema.properties || {}).forEach(function (k) { out[k] = example(schema.properties[k], depth + 1); });
        return out;
      case "array": return [example(schema.items, depth + 1)];
      case "integer": case "number": return 0;
      case "boolean": return false;
      case "string": return schema.format === "date-time" ? "2026-01-01T00:00:00Z" : "string";
      default: return null;
    }
  }
  function render() {
    var ops = document.getElementById("ops"), toc = document.getElementById("toc");
    var byTag = {};
    Object.keys(spec.paths).forEach(function (path) {
      Object.keys(spec.paths[path]).forEach(function (method) {
        var op = spec.paths[path][method];
        var tag = (op.tags && op.tags[0]) || "other";
        (byTag[tag] = byTag[tag] || []).push({ path: path, method: method, op: op });
      });
    });
    Object.keys(byTag).sort().forEach(function (tag) {
      toc.appendChild(el("h3", {}, [tag]));
      byTag[tag].forEach(function (entry) {
        var id = (entry.method + entry.path).replace(/[^a-z0-9]+/gi, "-");
        toc.appendChild(el("a", { href: "#" + id, "data-route": entry.method + " " + entry.path }, [entry.method.toUpperCase() + " " + entry.path]));
        var section = el("section", { "class": "op", id: id, "data-route": entry.method + " " + entry.path }, [
          el("div", {}, [
            el("span", { "class": "method " + entry.method }, [entry.method.toUpperCase()]),
            el("code", { "class": "path" }, [entry.path]),
            entry.op.security ? el("span", { "class": "lock" }, ["requires bearer token"]) : el("span", {}, []),
          ]),
          el("p", {}, [entry.op.summary || ""]),
        ]);
        var params = entry.op.parameters || [];
        if (params.length) {
          var table = el("table", {}, [el("tr", {}, [el("th", {}, ["parameter"]), el("th", {}, ["in"]), el("th", {}, ["type"]), el("th", {}, ["description"])])]);
          params.forEach(function (p) {
            var s = resolve(p.schema) || {};
            table.appendChild(el("tr", {}, [el("td", {}, [p.name + (p.required ? " *" : "")]), el("td", {}, [p.in]), el("td", {}, [String(s.type || "")]), el("td", {}, [p.description || s.description || ""])]));
          });
          section.appendChild(table);
        }
        var body = entry.op.requestBody && entry.op.requestBody.content;
        if (body) {
          var type = Object.keys(body)[0];
          section.appendChild(el("h4", {}, ["Request body (" + type + ")"]));
          section.appendChild(el("pre", {}, [JSON.stringify(example(body[type].schema, 0), null, 2)]));
        }
        var rows = el("table", {}, [el("tr", {}, [el("th", {}, ["status"]), el("th", {}, ["meaning"])])]);
        Object.keys(entry.op.responses || {}).forEach(function (status) {
          rows.appendChild(el("tr", {}, [el("td", {}, [status]), el("td", {}, [entry.op.responses[status].description || ""])]));
        });
        section.appendChild(rows);
        ops.appendChild(section);
      });
    });
    document.getElementById("meta").textContent = spec.info.title + " " + spec.info.version + " \\u2014 " + Object.keys(spec.paths).length + " paths. " + (spec.info.description || "");
  }
  document.getElementById("filter").addEventListener("input", function (e) {
    var q = e.target.value.toLowerCase();
    document.querySelectorAll("[data-route]").forEach(function (node) {
      node.style.display = node.getAttribute("data-route").toLowerCase().indexOf(q) >= 0 ? "" : "none";
    });
  });
  fetch("/openapi.json").then(function (r) { return r.json(); }).then(function (s) { spec = s; render(); })
    .catch(function (e) { document.getElementById("meta").textContent = "Could not load /openapi.json: " + e; });
})();
`;
