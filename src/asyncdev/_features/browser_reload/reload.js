// asyncdev browser reload. Loaded by pages (a <script> the server adds before
// </body>) and, from the same URL, as the SharedWorker that holds the one WebSocket
// every tab of the browser shares. Where a SharedWorker is unavailable or refused
// (Content-Security-Policy worker-src, some mobile browsers) the page opens its own.
(function () {
  "use strict";

  // -- the connection: a WebSocket that reconnects, to whichever process serves ------
  function connect(wsUrl, onMessage, onState) {
    var socket = null;
    var outbox = [];
    var delay = 100;
    function open() {
      try {
        socket = new WebSocket(wsUrl);
      } catch (e) {
        return;
      }
      socket.onopen = function () {
        delay = 100;
        onState(true);
        while (outbox.length) socket.send(outbox.shift());
      };
      socket.onmessage = function (event) {
        var message;
        try { message = JSON.parse(event.data); } catch (e) { return; }
        onMessage(message);
      };
      socket.onclose = function () {
        socket = null;
        onState(false);
        // A reload closes the socket (1012): the next process is usually up at once.
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 2000);
      };
    }
    open();
    return function send(message) {
      var text = JSON.stringify(message);
      if (socket && socket.readyState === 1) socket.send(text);
      else if (outbox.length < 50) outbox.push(text);
    };
  }

  function socketUrl(base) {
    var url = new URL("ws", base);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.href;
  }

  // -- as a SharedWorker: relay between the socket and every tab ----------------------
  if (typeof document === "undefined") {
    var ports = [];
    var hello = null;
    var send = connect(socketUrl(self.location.href), function (message) {
      if (message.type === "hello") hello = message;
      ports.forEach(function (port) { port.postMessage(message); });
    }, function (up) { if (!up) hello = null; });
    self.onconnect = function (event) {
      var port = event.ports[0];
      ports.push(port);
      port.onmessage = function (event) {
        if (event.data === "bye") {
          ports = ports.filter(function (p) { return p !== port; });
        } else if (event.data === "back") {
          // A page restored from the back/forward cache listens again.
          if (ports.indexOf(port) < 0) ports.push(port);
          if (hello) port.postMessage(hello);
        } else {
          send(event.data);
        }
      };
      port.start();
      if (hello) port.postMessage(hello);
    };
    return;
  }

  // -- as a page -----------------------------------------------------------------------
  var me = document.currentScript;
  if (!me || window.__asyncdevReload) return;
  // The process id once the server has said it (for tests and the curious).
  var status = window.__asyncdevReload = { id: null };
  var method = (me.getAttribute("data-asyncdev-method") || "GET").toUpperCase();
  // Served while the app could not start: reload as soon as it can.
  var brokenPage = me.hasAttribute("data-asyncdev-broken");
  var scrollKey = "asyncdev-scroll";
  var reloadedKey = "asyncdev-reloaded-for";
  var known = null;
  var leaving = false;
  var logging = null;  // null: not told yet (the reports wait in `early`)
  var early = [];
  var overlay = null;
  var appBroken = false;  // the overlay says the app cannot start: it stays until fixed
  var sendUp = function () {};

  function navigation() {
    var entries = performance.getEntriesByType ? performance.getEntriesByType("navigation") : [];
    return entries[0] || null;
  }

  function restoreScroll() {
    var saved;
    try { saved = JSON.parse(sessionStorage.getItem(scrollKey) || "null"); } catch (e) { saved = null; }
    sessionStorage.removeItem(scrollKey);
    if (saved && saved.url === location.href) window.scrollTo(saved.x, saved.y);
  }
  if (document.readyState === "complete") restoreScroll();
  else window.addEventListener("load", restoreScroll);

  function refresh(id) {
    if (leaving) return;
    if (method !== "GET") {
      // Reloading would send the form again (and a create would happen twice).
      notice();
      return;
    }
    if (sessionStorage.getItem(reloadedKey) === id) return;  // never loop on one id
    sessionStorage.setItem(reloadedKey, id);
    sessionStorage.setItem(scrollKey, JSON.stringify({
      url: location.href, x: window.scrollX, y: window.scrollY
    }));
    leaving = true;
    location.reload();
  }

  // Built with the DOM and CSSOM only: no inline style or markup a policy could refuse.
  function box(id, css) {
    var old = document.getElementById(id);
    if (old) old.remove();
    var element = document.createElement("div");
    element.id = id;
    element.style.cssText = "position:fixed;z-index:2147483647;box-sizing:border-box;" +
      "font:14px/1.45 system-ui,sans-serif;color:#1f2937;background:#fff;" +
      "box-shadow:0 4px 24px rgba(0,0,0,.3);border-radius:8px;" + css;
    (document.body || document.documentElement).appendChild(element);
    return element;
  }
  function add(parent, tag, text, css) {
    var element = document.createElement(tag);
    if (text) element.textContent = text;
    if (css) element.style.cssText = css;
    parent.appendChild(element);
    return element;
  }
  function button(parent, text, action) {
    var element = add(parent, "button", text, "margin:.6rem .5rem 0 0;font:inherit;cursor:pointer");
    element.addEventListener("click", action);
    return element;
  }

  function notice() {
    var element = box("__asyncdev_notice", "right:1rem;bottom:1rem;max-width:26rem;padding:.8rem 1rem");
    add(element, "div", "The server has new code. This page came from a form submission (" +
      method + "): reloading it would submit the form again.");
    button(element, "Load this address (GET)", function () { location.assign(location.href); });
    button(element, "Dismiss", function () { element.remove(); });
  }

  function showError(error, heading) {
    hideError();
    overlay = box("__asyncdev_overlay",
      "left:50%;top:2rem;transform:translateX(-50%);width:min(56rem,94vw);max-height:80vh;" +
      "overflow:auto;padding:1rem 1.2rem;border-top:4px solid #c0392b");
    add(overlay, "div", heading, "color:#6b7280;font-size:12px;text-transform:uppercase");
    add(overlay, "div", error.title || "Error", "font-size:16px;font-weight:600;color:#c0392b;" +
      "margin:.3rem 0;word-break:break-word");
    var frame = error.frame;
    if (frame) {
      add(overlay, "div", frame.file + ":" + frame.line + (frame.function ? " in " + frame.function : ""),
        "font:12px ui-monospace,monospace;color:#374151;word-break:break-all");
      if (frame.source) {
        add(overlay, "pre", frame.source, "margin:.4rem 0;padding:.5rem .7rem;background:#fdecea;" +
          "border-radius:4px;font:13px ui-monospace,monospace;white-space:pre-wrap");
      }
    }
    add(overlay, "div", "Fix the code and save: this page refreshes by itself.", "color:#6b7280;margin-top:.4rem");
    button(overlay, "Dismiss", hideError);
  }
  function hideError() {
    if (overlay) overlay.remove();
    overlay = null;
  }

  // -- stylesheets swapped in place ------------------------------------------------------
  function swapStylesheets(changed) {
    var stamp = String(Date.now());
    function matches(href) {
      var url;
      try { url = new URL(href, location.href); } catch (e) { return false; }
      if (url.origin !== location.origin) return false;
      return changed.some(function (file) {
        return url.pathname === file.url || url.pathname.split("/").pop() === file.name;
      });
    }
    function busted(href) {
      var url = new URL(href, location.href);
      url.searchParams.set("asyncdev", stamp);
      return url.href;
    }
    var found = 0;
    // @import rules: the importing sheet gets a rule with the new URL in its place.
    function walk(sheet) {
      var rules;
      try { rules = sheet.cssRules; } catch (e) { return; }
      for (var i = 0; i < rules.length; i++) {
        var rule = rules[i];
        if (!(rule instanceof CSSImportRule)) continue;
        var href = new URL(rule.href, sheet.href || location.href).href;
        if (matches(href)) {
          var media = rule.media.mediaText;
          sheet.deleteRule(i);
          sheet.insertRule("@import url(" + JSON.stringify(busted(href)) + ")" +
            (media ? " " + media : "") + ";", i);
          found++;
        } else if (rule.styleSheet) {
          walk(rule.styleSheet);
        }
      }
    }
    Array.prototype.forEach.call(document.styleSheets, walk);
    var links = Array.prototype.slice.call(document.querySelectorAll('link[rel~="stylesheet"][href]'));
    var chosen = links.filter(function (link) { return matches(link.href); });
    // A file the pages link under another name (a framework's static URL): every
    // stylesheet of this site is fetched again, which shows the change either way.
    if (!chosen.length && !found) {
      chosen = links.filter(function (link) { return new URL(link.href).origin === location.origin; });
    }
    chosen.forEach(function (link) {
      var copy = link.cloneNode();
      copy.href = busted(link.href);
      // The old sheet stays until the new one applies: no flash of unstyled content.
      copy.addEventListener("load", function () { link.remove(); });
      copy.addEventListener("error", function () { copy.remove(); });
      link.after(copy);
    });
  }

  // -- what the server says --------------------------------------------------------------
  function handle(message) {
    if (message.type === "hello") {
      logging = !!message.log;
      if (logging) early.forEach(function (report) { sendUp(report); });
      early = [];
      if (message.broken) {
        var nav = navigation();
        // A document that is itself the error page needs no overlay over it.
        if (!(nav && nav.responseStatus >= 500)) {
          showError(message.error || {}, "The application could not start");
          appBroken = true;
        }
        return;
      }
      appBroken = false;
      if (known === null) {
        known = status.id = message.id;
        var entry = navigation();
        // A page answered by the previous process, whose socket connected after the
        // reload, is out of date too.
        if (brokenPage) refresh(message.id + "@broken");
        else if (entry && performance.timeOrigin + entry.responseStart < message.started) refresh(message.id);
        else hideError();
      } else if (message.id !== known) {
        refresh(message.id);
      } else {
        hideError();
      }
    } else if (message.type === "css") {
      swapStylesheets(message.files || []);
    } else if (message.type === "reload") {
      refresh(known + "@" + Date.now());
    } else if (message.type === "error") {
      if (!appBroken && (!message.page || message.page === location.href)) {
        showError(message.error || {}, "A request of this page failed");
      }
    }
  }

  // -- errors of the page, to the server's log -----------------------------------------
  function text(value) {
    if (value instanceof Error) return value.stack || String(value);
    if (typeof value === "string") return value;
    try { return JSON.stringify(value); } catch (e) { return String(value); }
  }
  function report(kind, message, source, line, column) {
    var data = { type: "log", kind: kind, message: String(message).slice(0, 2000),
                 source: source || location.href, line: line || 0, column: column || 0,
                 page: location.href };
    if (logging) sendUp(data);
    else if (logging === null && early.length < 20) early.push(data);
  }
  window.addEventListener("error", function (event) {
    if (event.message) report("uncaught", event.message, event.filename, event.lineno, event.colno);
  });
  window.addEventListener("unhandledrejection", function (event) {
    report("unhandled rejection", text(event.reason));
  });
  var originalError = console.error;
  console.error = function () {
    originalError.apply(console, arguments);
    var where = /\(?((?:https?|file):\/\/[^\s)]+):(\d+):(\d+)\)?\s*$/m;
    var lines = (new Error().stack || "").split("\n").slice(2);
    var found = lines.length ? where.exec(lines[0]) : null;
    report("console.error", Array.prototype.map.call(arguments, text).join(" "),
      found && found[1], found && +found[2], found && +found[3]);
  };

  // -- one connection per browser --------------------------------------------------------
  function direct() {
    sendUp = connect(socketUrl(me.src), handle, function () {});
  }
  if (typeof SharedWorker === "function") {
    try {
      var worker = new SharedWorker(me.src, { name: "asyncdev" });
      var answered = false;
      worker.port.onmessage = function (event) { answered = true; handle(event.data); };
      worker.onerror = function () { if (!answered) { answered = true; direct(); } };
      worker.port.start();
      sendUp = function (message) { worker.port.postMessage(message); };
      window.addEventListener("pagehide", function () { worker.port.postMessage("bye"); });
      window.addEventListener("pageshow", function (event) {
        if (event.persisted) worker.port.postMessage("back");
      });
    } catch (e) {
      direct();
    }
  } else {
    direct();
  }
})();
