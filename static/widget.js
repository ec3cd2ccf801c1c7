/*
 * Support chatbot: website chat widget.
 *
 * Embed with one tag:
 *   <script src="https://HOST/static/widget.js" data-brand="cltiktok" defer></script>
 *
 * Optional attributes on that tag:
 *   data-title   the name shown in the header (default: the brand's name)
 *
 * Any element of the host page with a data-chatbot-open attribute opens the
 * widget when clicked.
 *
 * Plain JavaScript, no build step. The DOM is built with createElement and
 * textContent only: text from the server or the user is never parsed as HTML.
 * Nothing inline (no style attributes in markup, no event-handler attributes),
 * so the widget works under "script-src 'self'; style-src 'self'".
 *
 * Wire contract: docs in shared/spec/protocol.md (Socket.IO namespace /chat).
 * Besides plain messages it shows: the source ("citation") of bot answers;
 * the quick replies of the latest message, bot or system (a 1-to-5 set as
 * stars); screenshots attached with the paperclip (POST /api/attachments,
 * the server then writes the "📎 name (N KB)" message); and, once a person is
 * involved, a line with the queue position and wait or the agent's name.
 */
(function () {
  "use strict";

  // ---------------------------------------------------------------- setup --

  var script = document.currentScript || findOwnScript();
  if (!script) {
    return;
  }
  var brand = (script.getAttribute("data-brand") || "").trim();
  if (!brand) {
    if (window.console) {
      console.error("chatbot widget: the script tag needs a data-brand attribute");
    }
    return;
  }
  window.__chatbotWidgets = window.__chatbotWidgets || {};
  if (window.__chatbotWidgets[brand]) {
    return; // included twice for the same brand
  }

  var scriptUrl = new URL(script.getAttribute("src") || script.src, document.baseURI);
  var ORIGIN = scriptUrl.origin;
  var CSS_URL = new URL("widget.css", scriptUrl).href;
  var IO_URL = ORIGIN + "/vendor/socket.io.min.js";

  var BRAND_NAMES = { cltiktok: "cltiktok", "ttr-e": "TTR-E" };
  var brandName = script.getAttribute("data-title") || BRAND_NAMES[brand] || brand;
  var brandClass = "cbw-brand-" + brand.toLowerCase().replace(/[^a-z0-9-]/g, "");

  var TOKEN_KEY = "chatbot.token." + brand;
  var USER_KEY = "chatbot.user." + brand;
  var OUTBOX_KEY = "chatbot.outbox." + brand; // + "." + user id, in sessionStorage (see "outbox")
  var MAX_TEXT = 4000;
  var TYPING_IDLE_MS = 1500; // stop "typing" after this long without input
  var TYPING_SHOW_MAX_MS = 15000; // hide a remote "is typing" that never ended
  var ACK_TIMEOUT_MS = 20000;
  // attachments (POST /api/attachments): the server checks the content again
  var MAX_UPLOAD_BYTES = 5 * 1024 * 1024;
  var UPLOAD_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];
  var UPLOAD_EXTENSIONS = /\.(png|jpe?g|gif|webp)$/i; // for files the browser gives no type
  // the note the server writes for an uploaded file: "📎 name (N KB)"
  var ATTACHMENT_NOTE = /^\uD83D\uDCCE .+ \(\d+ KB\)$/;
  var RATING_WORDS = { 1: "Poor", 2: "Fair", 3: "Good", 4: "Very good", 5: "Great" };

  function findOwnScript() {
    var all = document.querySelectorAll("script[src][data-brand]");
    for (var i = all.length - 1; i >= 0; i--) {
      if (/widget\.js(\?|#|$)/.test(all[i].getAttribute("src"))) {
        return all[i];
      }
    }
    return null;
  }

  // -------------------------------------------------------------- storage --

  function store(key, value) {
    try {
      if (value === null || value === undefined) {
        window.localStorage.removeItem(key);
      } else {
        window.localStorage.setItem(key, value);
      }
    } catch (e) {
      /* storage blocked: the session lasts as long as the page */
    }
  }

  function load(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (e) {
      return null;
    }
  }

  function loadUser() {
    try {
      return JSON.parse(load(USER_KEY) || "null");
    } catch (e) {
      return null;
    }
  }

  // ------------------------------------------------------------- DOM kit --

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === null || value === undefined || value === false) {
          return;
        }
        if (name === "class") {
          node.className = value;
        } else if (name === "text") {
          node.textContent = value;
        } else {
          node.setAttribute(name, value === true ? "" : String(value));
        }
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) {
        return;
      }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  var SVG_NS = "http://www.w3.org/2000/svg";
  var ICONS = {
    chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z",
    close: "M6 6l12 12M18 6L6 18",
    minimize: "M6 12h12",
    send: "M3 20l18-8L3 4l2 8-2 8zm2-8h8",
    paperclip: "M21.4 11.1l-9.2 9.2a6 6 0 0 1-8.5-8.5l9.2-9.2a4 4 0 0 1 5.7 5.7l-9.2 9.2a2 2 0 0 1-2.8-2.8l8.5-8.5",
    star: "M12 2.8l2.8 5.9 6.4.8-4.7 4.4 1.2 6.4L12 17.2l-5.7 3.1 1.2-6.4-4.7-4.4 6.4-.8z"
  };

  function icon(name, cls) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "24");
    svg.setAttribute("height", "24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", "cbw-icon " + (cls || ""));
    var path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", ICONS[name]);
    svg.appendChild(path);
    return svg;
  }

  function show(node, visible) {
    if (visible) {
      node.removeAttribute("hidden");
    } else {
      node.setAttribute("hidden", "");
    }
  }

  // Text with http(s) links and e-mail addresses made clickable; everything
  // else stays plain text nodes.
  var LINK_RE = /(https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]])|([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})/g;

  function richText(parent, text) {
    var last = 0;
    var match;
    LINK_RE.lastIndex = 0;
    while ((match = LINK_RE.exec(text)) !== null) {
      if (match.index > last) {
        parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      }
      var href = match[1] ? safeHttpUrl(match[1]) : "mailto:" + match[2];
      if (href) {
        var a = el("a", { href: href, text: match[0] });
        if (match[1]) {
          a.setAttribute("target", "_blank");
          a.setAttribute("rel", "noopener noreferrer nofollow");
        }
        parent.appendChild(a);
      } else {
        parent.appendChild(document.createTextNode(match[0]));
      }
      last = match.index + match[0].length;
    }
    if (last < text.length) {
      parent.appendChild(document.createTextNode(text.slice(last)));
    }
  }

  function safeHttpUrl(raw) {
    try {
      var u = new URL(raw);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  function formatTime(iso) {
    var d = iso ? new Date(iso) : new Date();
    if (isNaN(d.getTime())) {
      return "";
    }
    var now = new Date();
    var sameDay = d.toDateString() === now.toDateString();
    var opts = sameDay
      ? { hour: "2-digit", minute: "2-digit" }
      : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
    return d.toLocaleString(undefined, opts);
  }

  function formatOpening(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) {
      return String(iso || "");
    }
    return d.toLocaleString(undefined, {
      weekday: "long",
      month: "short",
      day: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      timeZoneName: "short"
    });
  }

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) {
      return (x + 0x100).toString(16).slice(1);
    }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function senderName(msg) {
    var s = msg.sender || {};
    if (s.name) {
      return String(s.name);
    }
    if (s.type === "bot") {
      return brandName + " assistant";
    }
    if (s.type === "agent") {
      return "Support agent";
    }
    if (s.type === "system") {
      return brandName;
    }
    return "You";
  }

  function senderType(msg) {
    var t = msg.sender && msg.sender.type;
    return t === "customer" || t === "bot" || t === "agent" || t === "system" ? t : "system";
  }

  // ------------------------------------------------------------ the DOM --

  var ids = {
    panel: "cbw-panel-" + brand,
    title: "cbw-title-" + brand,
    email: "cbw-email-" + brand,
    password: "cbw-password-" + brand,
    input: "cbw-input-" + brand,
    loginError: "cbw-login-error-" + brand
  };

  var ui = {};

  ui.badge = el("span", { class: "cbw-badge", "data-testid": "unread", hidden: true, "aria-hidden": "true" });
  ui.launcher = el("button", {
    type: "button",
    class: "cbw-launcher",
    "data-testid": "launcher",
    "aria-label": "Open chat with " + brandName + " support",
    "aria-expanded": "false",
    "aria-controls": ids.panel
  }, [icon("chat", "cbw-icon-chat"), icon("close", "cbw-icon-close"), ui.badge]);

  ui.statusText = el("span", { class: "cbw-status-text", text: "Sign in to chat" });
  ui.status = el("p", { class: "cbw-status", "data-testid": "connection-state", "data-state": "signed-out" }, [
    el("span", { class: "cbw-dot", "aria-hidden": "true" }),
    ui.statusText
  ]);
  ui.close = el("button", {
    type: "button",
    class: "cbw-iconbtn cbw-close",
    "data-testid": "close",
    "aria-label": "Minimize chat"
  }, [icon("minimize")]);
  ui.header = el("header", { class: "cbw-header" }, [
    el("div", { class: "cbw-avatar", "aria-hidden": "true", text: brandName.charAt(0).toUpperCase() }),
    el("div", { class: "cbw-titles" }, [
      el("h2", { class: "cbw-title", id: ids.title, text: brandName + " Support" }),
      ui.status
    ]),
    ui.close
  ]);

  // who the customer is talking to once a person is involved: the queue
  // position and wait, or the agent's name
  ui.handoffBarText = el("span", { class: "cbw-handoff-bar-text" });
  ui.handoffBarAvatar = el("span", { class: "cbw-handoff-bar-avatar", "aria-hidden": "true" });
  ui.handoffBar = el("div", {
    class: "cbw-handoff-bar",
    role: "status",
    "data-testid": "handoff-status",
    hidden: true
  }, [ui.handoffBarAvatar, ui.handoffBarText]);

  ui.who = el("span", { class: "cbw-who" });
  ui.logout = el("button", { type: "button", class: "cbw-linkbtn", "data-testid": "logout", text: "Log out" });
  ui.account = el("div", { class: "cbw-account", hidden: true }, [ui.who, ui.logout]);

  // login form
  ui.email = el("input", {
    id: ids.email,
    class: "cbw-field",
    type: "email",
    name: "email",
    autocomplete: "username",
    required: true,
    "data-testid": "email",
    "aria-describedby": ids.loginError
  });
  ui.password = el("input", {
    id: ids.password,
    class: "cbw-field",
    type: "password",
    name: "password",
    autocomplete: "current-password",
    required: true,
    "data-testid": "password",
    "aria-describedby": ids.loginError
  });
  ui.loginError = el("div", {
    id: ids.loginError,
    class: "cbw-error",
    role: "alert",
    "data-testid": "login-error",
    hidden: true
  });
  ui.loginSubmit = el("button", { type: "submit", class: "cbw-primary", "data-testid": "login-submit", text: "Sign in" });
  ui.login = el("form", { class: "cbw-login", "data-testid": "login-form", novalidate: true }, [
    el("h3", { class: "cbw-login-title", text: "Chat with us" }),
    el("p", { class: "cbw-login-intro", text: "Sign in with your " + brandName + " account to chat with our assistant and support team." }),
    el("label", { class: "cbw-label", for: ids.email, text: "Email" }),
    ui.email,
    el("label", { class: "cbw-label", for: ids.password, text: "Password" }),
    ui.password,
    ui.loginError,
    ui.loginSubmit
  ]);

  // chat
  ui.empty = el("p", { class: "cbw-empty", "data-testid": "empty-state", text: "Ask us anything: we usually answer in seconds." });
  ui.messages = el("div", {
    class: "cbw-messages",
    role: "log",
    "aria-live": "polite",
    "aria-relevant": "additions",
    "aria-label": "Conversation with " + brandName + " support",
    tabindex: "0",
    "data-testid": "messages"
  }, [ui.empty]);
  ui.typingText = el("span", { class: "cbw-typing-text" });
  ui.typing = el("div", { class: "cbw-typing", role: "status", "data-testid": "typing", hidden: true }, [
    el("span", { class: "cbw-typing-dots", "aria-hidden": "true" }, [el("span"), el("span"), el("span")]),
    ui.typingText
  ]);
  ui.input = el("textarea", {
    id: ids.input,
    class: "cbw-input",
    rows: "1",
    maxlength: String(MAX_TEXT),
    placeholder: "Type your message…",
    "aria-label": "Type your message",
    "data-testid": "input"
  });
  ui.send = el("button", {
    type: "submit",
    class: "cbw-send",
    "aria-label": "Send message",
    "data-testid": "send",
    disabled: true
  }, [icon("send")]);
  ui.file = el("input", {
    type: "file",
    class: "cbw-file",
    accept: UPLOAD_TYPES.join(","),
    multiple: true,
    tabindex: "-1",
    "aria-hidden": "true",
    "data-testid": "attach-input",
    hidden: true
  });
  ui.attach = el("button", {
    type: "button",
    class: "cbw-attach",
    "aria-label": "Attach a screenshot (PNG, JPEG, GIF or WebP, up to 5 MB)",
    title: "Attach a screenshot",
    "data-testid": "attach"
  }, [icon("paperclip")]);
  ui.attachErrorText = el("span", { class: "cbw-attach-error-text" });
  ui.attachErrorClose = el("button", {
    type: "button",
    class: "cbw-attach-error-close",
    "aria-label": "Dismiss",
    text: "×"
  });
  ui.attachError = el("div", {
    class: "cbw-attach-error",
    role: "alert",
    "data-testid": "attach-error",
    hidden: true
  }, [ui.attachErrorText, ui.attachErrorClose]);
  ui.composer = el("form", { class: "cbw-composer" }, [ui.attach, ui.file, ui.input, ui.send]);
  ui.chat = el("div", { class: "cbw-chat", hidden: true }, [ui.messages, ui.typing, ui.attachError, ui.composer]);

  ui.panel = el("section", {
    id: ids.panel,
    class: "cbw-panel",
    role: "dialog",
    "aria-modal": "false",
    "aria-labelledby": ids.title,
    "data-testid": "panel",
    hidden: true
  }, [ui.header, ui.handoffBar, ui.account, ui.login, ui.chat]);

  ui.root = el("div", { class: "cbw-root " + brandClass, "data-chatbot-widget": brand, hidden: true }, [
    ui.panel,
    ui.launcher
  ]);

  // ---------------------------------------------------------- the state --

  var state = {
    token: load(TOKEN_KEY),
    user: loadUser(),
    open: false,
    socket: null,
    connected: false,
    everConnected: false,
    stickToBottom: true,
    conversationId: null,
    conversationState: null,
    agentName: null,
    queue: null, // {position, eta_seconds} of the latest "queued" handoff event
    lastSeq: null, // highest seq seen in the current conversation
    fillingGap: false, // a history request for a gap is on its way
    handshakeHadLastSeq: false,
    convOrder: {}, // conversation_id -> order index, to keep conversations apart
    convCount: 0,
    messages: {}, // id -> element
    pending: {}, // client_id -> {el, text}
    uploads: {}, // upload key -> {el, controller}
    uploadCount: 0,
    unread: 0,
    typingSent: false,
    typingTimer: null,
    remoteTypingTimer: null,
    retryTimer: null,
    retryDelay: 2000
  };

  // --------------------------------------------------------- connection --

  var ioPromise = null;

  function loadSocketIo() {
    if (ioPromise) {
      return ioPromise;
    }
    ioPromise = new Promise(function (resolve, reject) {
      if (typeof window.io === "function") {
        resolve(window.io);
        return;
      }
      var tag = el("script", { src: IO_URL, async: true });
      tag.addEventListener("load", function () {
        if (typeof window.io === "function") {
          resolve(window.io);
        } else {
          reject(new Error("socket.io client did not load"));
        }
      });
      tag.addEventListener("error", function () {
        ioPromise = null;
        reject(new Error("socket.io client could not be loaded"));
      });
      document.head.appendChild(tag);
    });
    return ioPromise;
  }

  function setStatus(kind, text) {
    ui.status.setAttribute("data-state", kind);
    ui.statusText.textContent = text;
  }

  function conversationStatusText() {
    switch (state.conversationState) {
      case "queued":
        return "Waiting for an agent";
      case "agent":
        return state.agentName ? "Chatting with " + state.agentName : "Chatting with an agent";
      case "closed":
        return "Conversation closed";
      default:
        return "Online · virtual assistant";
    }
  }

  function waitText(seconds) {
    if (typeof seconds !== "number" || !isFinite(seconds) || seconds < 0) {
      return null;
    }
    return seconds < 60 ? "less than a minute" : "about " + Math.ceil(seconds / 60) + " min";
  }

  // "Waiting for an agent (position 2, about 5 min)" / "Chatting with Dana"
  function handoffBarText() {
    if (state.conversationState === "queued") {
      var q = state.queue || {};
      var parts = [];
      if (typeof q.position === "number") {
        parts.push("position " + q.position);
      }
      var wait = waitText(q.eta_seconds);
      if (wait) {
        parts.push(wait);
      }
      return "Waiting for an agent" + (parts.length ? " (" + parts.join(", ") + ")" : "");
    }
    if (state.conversationState === "agent") {
      return state.agentName ? "Chatting with " + state.agentName : "Chatting with an agent";
    }
    return null;
  }

  function refreshHandoffBar() {
    var text = state.token ? handoffBarText() : null;
    show(ui.handoffBar, !!text);
    if (!text) {
      ui.handoffBar.removeAttribute("data-state");
      return;
    }
    ui.handoffBar.setAttribute("data-state", state.conversationState);
    ui.handoffBarText.textContent = text;
    var initial = state.conversationState === "agent" && state.agentName
      ? state.agentName.trim().charAt(0).toUpperCase()
      : "";
    // drawn by the style sheet (attr()), so the line's text is only the sentence
    ui.handoffBarAvatar.setAttribute("data-initial", initial);
  }

  function refreshStatus() {
    refreshHandoffBar();
    if (!state.token) {
      setStatus("signed-out", "Sign in to chat");
    } else if (state.connected) {
      setStatus("online", conversationStatusText());
    } else if (state.socket && state.everConnected) {
      setStatus("reconnecting", "Reconnecting…");
    } else {
      setStatus("connecting", "Connecting…");
    }
  }

  // A cluster's HAProxy routes on this query parameter (`balance url_param
  // affinity`, docs/deployment.md "HAProxy in front"), and engine.io-client
  // repeats `query` on every request, long-polling ones included: all of a
  // user's requests, and all their tabs, reach one process. A cookie cannot
  // do it: the widget is cross-origin, without credentials. A short hash
  // (FNV-1a, 32 bits): the token, a credential, never appears in a URL or a
  // proxy's log. Without the user (storage kept only the token), the token's
  // hash: the tabs of that session still stay together.
  function affinity() {
    var user = state.user && state.user.id !== undefined && state.user.id !== null;
    var key = user ? "user:" + state.user.id : "token:" + state.token;
    var hash = 0x811c9dc5;
    for (var i = 0; i < key.length; i++) {
      hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
    }
    return ("0000000" + (hash >>> 0).toString(16)).slice(-8);
  }

  function connect() {
    if (!state.token || state.socket) {
      return;
    }
    refreshStatus();
    loadSocketIo().then(function (io) {
      if (!state.token || state.socket) {
        return;
      }
      var socket = io(ORIGIN + "/chat", {
        // a function, so that every (re)connection sends the current token and last_seq
        auth: function (cb) {
          var auth = { token: state.token };
          state.handshakeHadLastSeq = state.lastSeq !== null && state.conversationId !== null;
          if (state.handshakeHadLastSeq) {
            auth.last_seq = state.lastSeq;
          }
          cb(auth);
        },
        query: { affinity: affinity() },
        transports: ["websocket", "polling"],
        tryAllTransports: true, // fall back to long-polling where WebSockets are blocked
        withCredentials: false
      });
      state.socket = socket;

      socket.on("connect", function () {
        state.connected = true;
        state.everConnected = true;
        state.retryDelay = 2000;
        refreshStatus();
        ui.send.disabled = !ui.input.value.trim();
        resendPending();
      });
      socket.on("disconnect", function (reason) {
        state.connected = false;
        Object.keys(state.pending).forEach(function (cid) {
          var p = state.pending[cid];
          if (!p.failed) {
            p.waiting = true; // no ack will come over the dropped connection
            p.status.textContent = "Waiting for connection…";
          }
        });
        setRemoteTyping(null);
        state.typingSent = false;
        refreshStatus();
        if (reason === "io server disconnect" && state.socket === socket) {
          // the server closed the session: try again; a dead token ends in
          // connect_error "unauthorized"
          scheduleRetry(socket);
        }
      });
      socket.on("connect_error", function (err) {
        state.connected = false;
        var message = err && err.message;
        if (message === "unauthorized") {
          signedOut("Your session has ended. Please sign in again.");
          return;
        }
        refreshStatus();
        if (!socket.active) {
          // refused by the server (not a network failure): retry with backoff
          scheduleRetry(socket);
        }
      });
      socket.on("conversation", onConversation);
      socket.on("message", onMessage);
      socket.on("handoff", onHandoff);
      socket.on("typing", onTyping);
      socket.on("resync", function () {
        fillGap(state.lastSeq);
      });
    }, function () {
      setStatus("error", "Chat is unavailable right now");
      state.retryTimer = setTimeout(connect, 10000);
    });
  }

  function scheduleRetry(socket) {
    clearTimeout(state.retryTimer);
    state.retryTimer = setTimeout(function () {
      if (state.socket === socket && !socket.connected) {
        socket.connect();
      }
    }, state.retryDelay);
    state.retryDelay = Math.min(state.retryDelay * 2, 30000);
  }

  function disconnect() {
    clearTimeout(state.retryTimer);
    if (state.socket) {
      var s = state.socket;
      state.socket = null;
      s.off();
      s.disconnect();
    }
    state.connected = false;
    state.everConnected = false;
  }

  // ----------------------------------------------------------- messages --

  function convIndex(conversationId) {
    if (conversationId === null || conversationId === undefined) {
      return state.convCount;
    }
    if (!(conversationId in state.convOrder)) {
      state.convOrder[conversationId] = ++state.convCount;
    }
    return state.convOrder[conversationId];
  }

  function clearMessages() {
    Object.keys(state.messages).forEach(function (id) {
      var node = state.messages[id];
      if (node.parentNode) {
        node.parentNode.removeChild(node);
      }
    });
    Array.prototype.slice.call(ui.messages.querySelectorAll(".cbw-handoff, .cbw-divider")).forEach(function (n) {
      n.parentNode.removeChild(n);
    });
    state.messages = {};
    state.lastSeq = null;
    state.conversationId = null;
    state.convOrder = {};
    state.convCount = 0;
  }

  function clearPending() {
    Object.keys(state.pending).forEach(function (cid) {
      var node = state.pending[cid].el;
      if (node.parentNode) {
        node.parentNode.removeChild(node);
      }
    });
    state.pending = {};
    Object.keys(state.uploads).forEach(function (key) {
      var u = state.uploads[key];
      u.cancelled = true;
      u.controller.abort();
      if (u.el.parentNode) {
        u.el.parentNode.removeChild(u.el);
      }
    });
    state.uploads = {};
  }

  function isAttachmentNote(msg) {
    return senderType(msg) === "customer" && typeof msg.text === "string" && ATTACHMENT_NOTE.test(msg.text);
  }

  function buildMessage(msg, extraClass) {
    var type = senderType(msg);
    var bubble = el("div", { class: "cbw-bubble" });
    var attachment = isAttachmentNote(msg);
    if (attachment) {
      // "📎 name (N KB)": the clip drawn as an icon (emoji fonts vary), the text kept
      var clip = "\uD83D\uDCCE ";
      bubble.appendChild(icon("paperclip", "cbw-note-icon"));
      bubble.appendChild(el("span", { class: "cbw-visually-hidden", text: clip }));
      bubble.appendChild(document.createTextNode(msg.text.slice(clip.length)));
    } else {
      richText(bubble, String(msg.text === undefined || msg.text === null ? "" : msg.text));
    }
    var time = el("time", { class: "cbw-time", datetime: msg.created_at || null, text: formatTime(msg.created_at) });
    var metaParts;
    if (type === "customer") {
      metaParts = [time];
    } else if (type === "agent") {
      // a person from the support team: name, a badge, and a distinct bubble
      metaParts = [
        el("span", { class: "cbw-sender", text: senderName(msg) }),
        el("span", { class: "cbw-agent-badge", "data-testid": "agent-badge", text: "Support team" }),
        time
      ];
    } else {
      metaParts = [el("span", { class: "cbw-sender", text: senderName(msg) }), time];
    }
    var meta = el("div", { class: "cbw-meta" }, metaParts);
    var citation = null;
    if (type === "bot" && typeof msg.citation === "string" && msg.citation.trim()) {
      citation = el("div", { class: "cbw-citation", "data-testid": "citation", text: "Source: " + msg.citation.trim() });
    }
    var classes = "cbw-msg cbw-msg--" + type;
    if (attachment) {
      classes += " cbw-msg--attachment";
    }
    var node = el("div", {
      class: classes + (extraClass ? " " + extraClass : ""),
      "data-testid": "message",
      "data-sender": type
    }, type === "customer" ? [bubble, meta] : [meta, bubble, citation]);
    if (msg.id !== undefined && msg.id !== null) {
      node.setAttribute("data-id", String(msg.id));
    }
    if (typeof msg.seq === "number") {
      node.setAttribute("data-seq", String(msg.seq));
    }
    node._cbw = { msg: msg, order: convIndex(msg.conversation_id), seq: typeof msg.seq === "number" ? msg.seq : Infinity };
    return node;
  }

  // The tail of the list: messages not yet acknowledged (in flight or failed)
  // and the quick replies. Stored messages and notices go before it.
  function tailStart() {
    var children = ui.messages.children;
    for (var i = 0; i < children.length; i++) {
      var c = children[i];
      if ((c._cbw && c._cbw.pending) || c.classList.contains("cbw-quick-replies")) {
        return c;
      }
    }
    return null;
  }

  function hasInFlight() {
    return Object.keys(state.pending).some(function (cid) {
      return !state.pending[cid].failed;
    });
  }

  // Insert a stored message at its place: by conversation, then by seq;
  // before pending (not yet acknowledged) messages and the quick replies.
  function placeMessage(node) {
    var info = node._cbw;
    var children = ui.messages.children;
    var before = null;
    for (var i = 0; i < children.length; i++) {
      var c = children[i];
      if (c._cbw) {
        if (c._cbw.pending || c._cbw.order > info.order || (c._cbw.order === info.order && c._cbw.seq > info.seq)) {
          before = c;
          break;
        }
      } else if (c.classList.contains("cbw-quick-replies")) {
        before = c;
        break;
      }
    }
    // handoff notices have no seq: they stay where they were shown, and live
    // messages (higher seq) land after them
    ui.messages.insertBefore(node, before);
  }

  function addMessage(msg) {
    if (!msg || msg.id === undefined || msg.id === null) {
      return false;
    }
    var key = String(msg.id);
    if (state.messages[key]) {
      return false; // already shown
    }
    if (msg.conversation_id !== undefined && msg.conversation_id !== null && state.conversationId !== null &&
        msg.conversation_id !== state.conversationId) {
      // the server opened a new conversation (the previous one was closed)
      state.conversationId = msg.conversation_id;
      state.lastSeq = null;
      ui.messages.insertBefore(el("div", { class: "cbw-divider", role: "separator", text: "New conversation" }), tailStart());
    } else if (state.conversationId === null && msg.conversation_id !== undefined) {
      state.conversationId = msg.conversation_id;
    }
    var node = buildMessage(msg);
    state.messages[key] = node;
    // the customer's own message sent from this tab, arriving before its ack
    if (senderType(msg) === "customer") {
      adoptPending(msg, node);
    }
    placeMessage(node);
    if (typeof msg.seq === "number" && (state.lastSeq === null || msg.seq > state.lastSeq)) {
      state.lastSeq = msg.seq;
    }
    return true;
  }

  function adoptPending(msg, node) {
    var cids = Object.keys(state.pending);
    for (var i = 0; i < cids.length; i++) {
      var p = state.pending[cids[i]];
      if (!p.failed && p.text === String(msg.text).trim()) {
        if (p.el.parentNode) {
          p.el.parentNode.removeChild(p.el);
        }
        p.adoptedId = String(msg.id);
        delete state.pending[cids[i]];
        saveOutbox();
        return;
      }
    }
  }

  function afterMessagesChanged(forceScroll) {
    var hasAny = Object.keys(state.messages).length > 0 || Object.keys(state.pending).length > 0 ||
      uploadsInFlight();
    show(ui.empty, !hasAny);
    renderQuickReplies();
    if (forceScroll || state.stickToBottom !== false) {
      scrollToBottom();
    }
  }

  // At once, not smoothly: during a smooth scroll the scroll events report
  // positions short of the bottom, and the list would stop following.
  function scrollToBottom() {
    var m = ui.messages;
    if (typeof m.scrollTo === "function") {
      m.scrollTo({ top: m.scrollHeight, behavior: "instant" });
    } else {
      m.scrollTop = m.scrollHeight;
    }
    state.stickToBottom = true;
  }

  // The latest stored message that can carry quick replies: the customer's
  // uploads ("📎 name (N KB)") do not answer the question, so the buttons
  // asked for before them stay (the dispute's "Done" after a screenshot).
  function lastStoredMessageNode() {
    var children = ui.messages.children;
    for (var i = children.length - 1; i >= 0; i--) {
      var c = children[i];
      if (c._cbw && !c._cbw.pending && !isAttachmentNote(c._cbw.msg)) {
        return c;
      }
    }
    return null;
  }

  function uploadsInFlight() {
    return Object.keys(state.uploads).length > 0;
  }

  // a 1-to-5 rating request ("5", "4", ... "1"): shown as stars
  function isRatingPrompt(replies) {
    if (replies.length < 3 || replies.length > 5) {
      return false;
    }
    var seen = {};
    return replies.every(function (r) {
      var v = r.trim();
      var ok = /^[1-5]$/.test(v) && !seen[v];
      seen[v] = true;
      return ok;
    });
  }

  // Quick replies of the latest message, whoever sent it (the bot or the
  // system: the breach offer, the rating request), at the end of the list.
  function renderQuickReplies() {
    var old = ui.messages.querySelector(".cbw-quick-replies");
    if (old) {
      old.parentNode.removeChild(old);
    }
    if (hasInFlight() || uploadsInFlight()) {
      return;
    }
    var lastNode = lastStoredMessageNode();
    if (!lastNode) {
      return;
    }
    var msg = lastNode._cbw.msg;
    if (senderType(msg) === "customer" || !Array.isArray(msg.quick_replies)) {
      return;
    }
    var replies = msg.quick_replies.filter(function (text) {
      return typeof text === "string" && text.trim();
    });
    if (replies.length === 0) {
      return;
    }
    // Buttons with payloads where the server sent them; the titles alone otherwise.
    var buttons = Array.isArray(msg.buttons) && msg.buttons.length === replies.length ? msg.buttons : null;
    var box = isRatingPrompt(replies) ? ratingRow(replies) : quickReplyButtons(replies, buttons);
    ui.messages.insertBefore(box, tailStart());
  }

  function quickReplyButtons(replies, buttons) {
    var box = el("div", { class: "cbw-quick-replies", "data-testid": "quick-replies", role: "group", "aria-label": "Suggested replies" });
    replies.forEach(function (text, i) {
      var b = el("button", { type: "button", class: "cbw-quick-reply", "data-testid": "quick-reply", text: text });
      var payload = buttons && buttons[i] && typeof buttons[i].payload === "object" ? buttons[i].payload : null;
      b.addEventListener("click", function () {
        sendText(text, payload);
        ui.input.focus();
      });
      box.appendChild(b);
    });
    return box;
  }

  // Stars, 1 on the left; a click sends the number as the customer's message
  // (the server takes "5" as a rating of the closed chat).
  function ratingRow(replies) {
    var values = replies.map(function (r) {
      return parseInt(r, 10);
    }).sort(function (a, b) {
      return a - b;
    });
    var caption = el("span", { class: "cbw-rating-caption", "aria-hidden": "true" });
    var stars = el("div", { class: "cbw-stars" });
    var box = el("div", {
      class: "cbw-quick-replies cbw-rating",
      "data-testid": "rating",
      role: "group",
      "aria-label": "Rate this chat from 1 (poor) to 5 (great)"
    }, [stars, caption]);
    var buttons = [];

    function light(upTo) {
      buttons.forEach(function (b) {
        b.classList.toggle("cbw-star--lit", parseInt(b.getAttribute("data-rating"), 10) <= upTo);
      });
      caption.textContent = upTo ? RATING_WORDS[upTo] || "" : "";
    }

    values.forEach(function (n) {
      var b = el("button", {
        type: "button",
        class: "cbw-star",
        "data-testid": "rating-button",
        "data-rating": String(n),
        "aria-label": n + (n === 1 ? " star" : " stars") + ": " + RATING_WORDS[n],
        title: n + " – " + RATING_WORDS[n]
      }, [icon("star")]);
      b.addEventListener("mouseenter", function () {
        light(n);
      });
      b.addEventListener("focus", function () {
        light(n);
      });
      b.addEventListener("click", function () {
        light(n);
        sendText(String(n));
        ui.input.focus();
      });
      buttons.push(b);
      stars.appendChild(b);
    });
    stars.addEventListener("mouseleave", function () {
      light(0);
    });
    stars.addEventListener("focusout", function (ev) {
      if (!stars.contains(ev.relatedTarget)) {
        light(0);
      }
    });
    return box;
  }

  function onConversation(conv) {
    if (!conv || typeof conv !== "object") {
      return;
    }
    var merge = state.handshakeHadLastSeq && conv.id === state.conversationId;
    if (!merge) {
      clearMessages();
    }
    state.conversationId = conv.id;
    if (conv.state) {
      state.conversationState = conv.state;
    }
    if (state.conversationState !== "queued") {
      state.queue = null;
    }
    if (state.conversationState !== "agent" && state.conversationState !== "queued") {
      state.agentName = null;
    }
    var list = Array.isArray(conv.messages) ? conv.messages.slice() : [];
    list.sort(function (a, b) {
      return (a.seq || 0) - (b.seq || 0);
    });
    list.forEach(function (m) {
      addMessage(m);
      if (senderType(m) === "agent" && m.sender && m.sender.name) {
        state.agentName = m.sender.name;
      }
    });
    refreshStatus();
    afterMessagesChanged(true);
  }

  function onMessage(msg) {
    var before = state.lastSeq;
    var sameConversation = msg && msg.conversation_id === state.conversationId;
    var added = addMessage(msg);
    if (!added) {
      return;
    }
    if (sameConversation && before !== null && typeof msg.seq === "number" && msg.seq > before + 1) {
      fillGap(before); // something between was lost on its way here
    }
    var type = senderType(msg);
    if (type !== "customer") {
      setRemoteTyping(null);
      if (type === "agent" && msg.sender && msg.sender.name) {
        state.agentName = msg.sender.name;
        if (state.conversationState !== "agent") {
          state.conversationState = "agent";
        }
        refreshStatus();
      }
      if (!state.open) {
        state.unread += 1;
        ui.badge.textContent = String(state.unread);
        show(ui.badge, true);
        ui.launcher.setAttribute("aria-label", "Open chat with " + brandName + " support (" + state.unread + " unread)");
      }
    }
    afterMessagesChanged(type === "customer");
  }

  // The messages after `after`, fetched: a live message arrived past a gap in
  // seq, or the server said `resync` (a cluster's process lost the channel the
  // processes share, and what was sent meanwhile was lost).
  function fillGap(after) {
    var socket = state.socket;
    if (!socket || !socket.connected || state.fillingGap || after === null) {
      return;
    }
    state.fillingGap = true;
    socket.timeout(10000).emit("history", { last_seq: after }, function (err, ack) {
      state.fillingGap = false;
      if (err || !ack || !ack.ok || !Array.isArray(ack.messages)) {
        return;
      }
      ack.messages.forEach(onMessage);
    });
  }

  function handoffText(h) {
    switch (h.state) {
      case "queued": {
        var parts = [];
        if (h.position !== undefined && h.position !== null) {
          parts.push("You're number " + h.position + " in the queue for an agent.");
        } else {
          parts.push("You're in the queue for an agent.");
        }
        if (typeof h.eta_seconds === "number") {
          var mins = Math.ceil(h.eta_seconds / 60);
          parts.push(h.eta_seconds < 60
            ? "Estimated wait: less than a minute."
            : "Estimated wait: about " + mins + " minute" + (mins === 1 ? "" : "s") + ".");
        }
        parts.push("You can keep writing meanwhile.");
        return parts.join(" ");
      }
      case "assigned": {
        var name = h.agent && h.agent.name ? h.agent.name : "An agent";
        return name + " has joined the chat.";
      }
      case "offline": {
        var text = "Our team is offline right now.";
        if (h.opens_at) {
          text += " We're back " + formatOpening(h.opens_at) + ".";
        }
        if (h.email) {
          text += " Leave a message here or email us at " + h.email + ".";
        } else {
          text += " Leave a message here and we'll get back to you.";
        }
        return text;
      }
      case "closed":
        // handed back to the bot: the system message already says so
        return h.back_to === "bot" ? null : "This conversation has been closed. Write again any time.";
      default:
        return null;
    }
  }

  function onHandoff(h) {
    if (!h || typeof h !== "object") {
      return;
    }
    var text = handoffText(h);
    if (h.state === "queued") {
      state.conversationState = "queued";
      state.queue = {
        position: typeof h.position === "number" ? h.position : null,
        eta_seconds: typeof h.eta_seconds === "number" ? h.eta_seconds : null
      };
    } else if (h.state === "assigned") {
      state.conversationState = "agent";
      state.queue = null;
      state.agentName = h.agent && h.agent.name ? String(h.agent.name) : null;
    } else if (h.state === "closed") {
      state.conversationState = h.back_to === "bot" ? "bot" : "closed";
      state.queue = null;
    } else if (h.state === "offline") {
      state.conversationState = state.conversationState || "bot";
    }
    refreshStatus();
    if (!text) {
      return;
    }
    // queue updates replace the notice they follow instead of piling up
    var qr = ui.messages.querySelector(".cbw-quick-replies");
    if (qr) {
      qr.parentNode.removeChild(qr);
    }
    var tail = tailStart();
    var last = tail ? tail.previousElementSibling : ui.messages.lastElementChild;
    var node;
    if (last && last.classList.contains("cbw-handoff") && last.getAttribute("data-state") === h.state) {
      node = last;
      node.lastChild.textContent = "";
    } else {
      node = el("div", { class: "cbw-handoff", "data-testid": "handoff", "data-state": h.state }, [
        el("span", { class: "cbw-handoff-icon", "aria-hidden": "true", text: "ℹ" }),
        el("span", { class: "cbw-handoff-text" })
      ]);
      ui.messages.insertBefore(node, tail);
    }
    richText(node.lastChild, text);
    afterMessagesChanged(false);
  }

  function onTyping(t) {
    if (!t || typeof t !== "object") {
      return;
    }
    var s = t.sender;
    var type = s && typeof s === "object" ? s.type : null;
    if (type === "customer") {
      return; // our own other tabs
    }
    if (!t.on) {
      setRemoteTyping(null);
      return;
    }
    var name;
    if (s && typeof s === "object") {
      name = s.name || (s.type === "bot" ? brandName + " assistant"
        : s.type === "agent" ? state.agentName || "An agent" : null);
    } else if (typeof s === "string" && s && s !== "customer") {
      name = s === "bot" ? brandName + " assistant" : s === "agent" ? "An agent" : s;
    }
    setRemoteTyping(name || "Support");
  }

  function setRemoteTyping(name) {
    clearTimeout(state.remoteTypingTimer);
    if (!name) {
      show(ui.typing, false);
      ui.typingText.textContent = "";
      return;
    }
    ui.typingText.textContent = name + " is typing…";
    show(ui.typing, true);
    state.remoteTypingTimer = setTimeout(function () {
      setRemoteTyping(null);
    }, TYPING_SHOW_MAX_MS);
  }

  // ------------------------------------------------------------ sending --

  // `payload`: what a clicked button does (docs/protocol.md), sent beside its title.
  function sendText(raw, payload) {
    var text = String(raw || "").trim();
    if (!text || !state.token) {
      return;
    }
    if (text.length > MAX_TEXT) {
      text = text.slice(0, MAX_TEXT);
    }
    stopTyping();
    var clientId = uuid();
    var node = buildMessage({
      id: null,
      sender: { type: "customer" },
      text: text,
      created_at: new Date().toISOString()
    }, "cbw-msg--pending");
    node._cbw.pending = true;
    node.setAttribute("data-pending", "true");
    node.setAttribute("data-client-id", clientId);
    var statusLine = el("div", { class: "cbw-msg-status", text: "Sending…" });
    node.appendChild(statusLine);
    ui.messages.appendChild(node);
    var entry = { el: node, text: text, status: statusLine, failed: false, payload: payload || null };
    state.pending[clientId] = entry;
    saveOutbox();
    afterMessagesChanged(true);
    emitMessage(clientId, entry);
  }

  // Send (or send again) a pending message. Without a connection it waits and
  // goes out on the next connect; the same client_id makes a repeat harmless.
  function emitMessage(clientId, entry) {
    var socket = state.socket;
    entry.attempt = (entry.attempt || 0) + 1;
    var attempt = entry.attempt;
    if (!socket || !state.connected) {
      entry.waiting = true;
      entry.status.textContent = "Waiting for connection…";
      if (!socket) {
        connect();
      }
      return;
    }
    if (uploadsInFlight()) {
      // after the screenshots being uploaded: the dispute's "done" counts them
      entry.waiting = true;
      entry.status.textContent = "Waiting for the upload to finish…";
      return;
    }
    entry.waiting = false;
    entry.status.textContent = "Sending…";
    var data = { client_id: clientId, text: entry.text };
    if (entry.payload) {
      data.payload = entry.payload;
    }
    socket.timeout(ACK_TIMEOUT_MS).emit("message", data, function (err, ack) {
      if (entry.attempt !== attempt || state.pending[clientId] !== entry) {
        return; // superseded by a later attempt, or already settled
      }
      if (err) {
        if (!state.connected) {
          // the connection dropped before the answer: resend on reconnect
          entry.waiting = true;
          entry.status.textContent = "Waiting for connection…";
          return;
        }
        markFailed(clientId, entry, "No answer from the server.");
        return;
      }
      if (ack && ack.ok && ack.message) {
        var node = entry.el;
        if (node.parentNode) {
          node.parentNode.removeChild(node);
        }
        delete state.pending[clientId];
        saveOutbox();
        addMessage(ack.message); // no-op when it already arrived as an event
        afterMessagesChanged(true);
        return;
      }
      var detail = ack && (ack.detail || ack.error) ? String(ack.detail || ack.error) : "The message was not accepted.";
      markFailed(clientId, entry, detail);
    });
  }

  function resendPending() {
    Object.keys(state.pending).forEach(function (cid) {
      var p = state.pending[cid];
      if (p.waiting && !p.failed) {
        emitMessage(cid, p);
      }
    });
  }

  // ------------------------------------------------------------- outbox --
  // The messages not yet acknowledged, with their client_id, kept in this
  // tab's sessionStorage (per brand and user) as well as in page memory: a
  // reload during an outage shows them again as waiting and sends them on
  // the next connect, once (the server stores a repeated client_id once).

  function outboxKey() {
    return state.user && state.user.id !== undefined ? OUTBOX_KEY + "." + state.user.id : null;
  }

  function saveOutbox() {
    var key = outboxKey();
    if (!key) {
      return;
    }
    var items = Object.keys(state.pending).map(function (cid) {
      var p = state.pending[cid];
      p.createdAt = p.createdAt || new Date().toISOString();
      var item = { client_id: cid, text: p.text, created_at: p.createdAt };
      if (p.payload) {
        item.payload = p.payload;
      }
      return item;
    });
    try {
      if (items.length) {
        window.sessionStorage.setItem(key, JSON.stringify(items));
      } else {
        window.sessionStorage.removeItem(key);
      }
    } catch (e) {
      /* storage full or blocked: they stay in page memory only */
    }
  }

  function dropOutbox() {
    var key = outboxKey();
    try {
      if (key) {
        window.sessionStorage.removeItem(key);
      }
    } catch (e) {
      /* nothing kept */
    }
  }

  // Show the stored messages as pending ones waiting for the connection.
  function restoreOutbox() {
    var key = outboxKey();
    var items = null;
    try {
      items = key ? JSON.parse(window.sessionStorage.getItem(key) || "[]") : [];
    } catch (e) {
      items = [];
    }
    if (!Array.isArray(items)) {
      return;
    }
    items.forEach(function (item) {
      if (!item || typeof item.client_id !== "string" || typeof item.text !== "string" ||
          !item.text || state.pending[item.client_id]) {
        return;
      }
      var node = buildMessage({
        id: null,
        sender: { type: "customer" },
        text: item.text,
        created_at: item.created_at || new Date().toISOString()
      }, "cbw-msg--pending");
      node._cbw.pending = true;
      node.setAttribute("data-pending", "true");
      node.setAttribute("data-client-id", item.client_id);
      var statusLine = el("div", { class: "cbw-msg-status", text: "Waiting for connection…" });
      node.appendChild(statusLine);
      ui.messages.appendChild(node);
      state.pending[item.client_id] = {
        el: node, text: item.text, status: statusLine, failed: false, waiting: true,
        createdAt: item.created_at, payload: item.payload
      };
    });
    afterMessagesChanged(false);
  }

  function markFailed(clientId, entry, detail) {
    if (!state.pending[clientId]) {
      return;
    }
    entry.failed = true;
    entry.el.classList.add("cbw-msg--failed");
    entry.el.setAttribute("data-pending", "failed");
    var status = entry.status;
    while (status.firstChild) {
      status.removeChild(status.firstChild);
    }
    status.setAttribute("role", "alert");
    status.setAttribute("data-testid", "message-error");
    status.appendChild(document.createTextNode("Not sent: " + detail + " "));
    var retry = el("button", { type: "button", class: "cbw-linkbtn", text: "Retry" });
    retry.addEventListener("click", function () {
      entry.failed = false;
      entry.el.classList.remove("cbw-msg--failed");
      entry.el.setAttribute("data-pending", "true");
      status.removeAttribute("role");
      status.removeAttribute("data-testid");
      status.textContent = "Sending…";
      emitMessage(clientId, entry); // same client_id: the server stores it once
    });
    status.appendChild(retry);
    renderQuickReplies();
  }

  // -------------------------------------------------------- attachments --

  function formatSize(bytes) {
    if (bytes < 1024) {
      return bytes + " B";
    }
    if (bytes < 1024 * 1024) {
      return Math.ceil(bytes / 1024) + " KB";
    }
    return (bytes / (1024 * 1024)).toFixed(1) + " MB";
  }

  function showAttachError(text) {
    var m = ui.messages;
    var atBottom = m.scrollHeight - m.scrollTop - m.clientHeight < 40;
    ui.attachErrorText.textContent = text || "";
    show(ui.attachError, !!text);
    if (atBottom) {
      scrollToBottom(); // the list got shorter or taller: keep the latest in view
    }
  }

  // Why a file cannot be attached, or null. The server checks the content
  // again; this only saves a pointless upload.
  function fileProblem(file) {
    var name = "“" + file.name + "”";
    var typeOk = file.type ? UPLOAD_TYPES.indexOf(file.type) >= 0 : UPLOAD_EXTENSIONS.test(file.name);
    if (!typeOk) {
      return name + " can't be attached: only PNG, JPEG, GIF or WebP images are accepted.";
    }
    if (file.size > MAX_UPLOAD_BYTES) {
      return name + " is too large (" + formatSize(file.size) + "): images can be up to 5 MB.";
    }
    if (file.size === 0) {
      return name + " is empty.";
    }
    return null;
  }

  function onFilesChosen() {
    var files = Array.prototype.slice.call(ui.file.files || []);
    ui.file.value = ""; // choosing the same file again fires "change" again
    if (!files.length || !state.token) {
      return;
    }
    attachFiles(files);
  }

  function attachFiles(files) {
    var problems = [];
    files.forEach(function (file) {
      var problem = fileProblem(file);
      if (problem) {
        problems.push(problem);
      } else {
        upload(file);
      }
    });
    showAttachError(problems.join(" "));
  }

  // A pending item in the list while the file goes up; the server then
  // writes the "📎 name (N KB)" message itself (the answer and the socket
  // both bring it: shown once, by id).
  function upload(file) {
    var key = "u" + ++state.uploadCount;
    var bar = el("div", {
      class: "cbw-progress",
      role: "progressbar",
      "aria-label": "Uploading " + file.name
    }, [el("span", { class: "cbw-progress-fill" })]);
    var status = el("div", { class: "cbw-msg-status", text: "Uploading… " + formatSize(file.size) });
    var node = el("div", {
      class: "cbw-msg cbw-msg--customer cbw-msg--pending cbw-msg--attachment cbw-upload",
      "data-testid": "upload",
      "data-state": "uploading"
    }, [
      el("div", { class: "cbw-bubble" }, [icon("paperclip", "cbw-upload-icon"), el("span", { class: "cbw-upload-name", text: file.name })]),
      bar,
      status
    ]);
    node._cbw = { pending: true, upload: true, order: Infinity, seq: Infinity };
    var controller = typeof AbortController === "function" ? new AbortController() : { abort: function () {}, signal: undefined };
    var entry = { el: node, controller: controller, cancelled: false };
    state.uploads[key] = entry;
    ui.messages.appendChild(node);
    afterMessagesChanged(true);

    var form = new FormData();
    form.append("file", file, file.name);
    var token = state.token;
    fetch(ORIGIN + "/api/attachments", {
      method: "POST",
      headers: { Authorization: "Bearer " + token, Accept: "application/json" },
      body: form,
      signal: controller.signal
    }).then(function (res) {
      return res.json().catch(function () {
        return {};
      }).then(function (body) {
        return { status: res.status, body: body || {} };
      });
    }).then(function (r) {
      if (entry.cancelled) {
        return;
      }
      if (r.status === 201 && r.body.message) {
        settleUpload(key, null);
        addMessage(r.body.message); // a no-op when the socket brought it first
        afterMessagesChanged(true);
        return;
      }
      if (r.status === 401) {
        settleUpload(key, null);
        if (state.token === token) {
          signedOut("Your session has ended. Please sign in again.");
        }
        return;
      }
      var detail = r.body.detail || r.body.error;
      if (!detail) {
        detail = r.status === 413 ? "the file is too large (up to 5 MB)" : "the upload failed (" + r.status + ")";
      }
      settleUpload(key, "“" + file.name + "” was not attached: " + String(detail).replace(/\.?$/, "."));
    }, function () {
      if (!entry.cancelled) {
        settleUpload(key, "“" + file.name + "” was not attached: can't reach support right now.");
      }
    });
  }

  function settleUpload(key, error) {
    var entry = state.uploads[key];
    if (!entry) {
      return;
    }
    delete state.uploads[key];
    if (entry.el.parentNode) {
      entry.el.parentNode.removeChild(entry.el);
    }
    if (error) {
      showAttachError(error);
    }
    afterMessagesChanged(false);
    if (!uploadsInFlight() && state.connected) {
      resendPending(); // messages written meanwhile go out now
    }
  }

  // ------------------------------------------------------------- typing --

  function onInput() {
    autosize();
    ui.send.disabled = !ui.input.value.trim();
    if (!state.socket || !state.connected) {
      return;
    }
    if (!ui.input.value.trim()) {
      stopTyping();
      return;
    }
    if (!state.typingSent) {
      state.typingSent = true;
      state.socket.emit("typing", { on: true });
    }
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    clearTimeout(state.typingTimer);
    if (state.typingSent) {
      state.typingSent = false;
      if (state.socket && state.connected) {
        state.socket.emit("typing", { on: false });
      }
    }
  }

  function autosize() {
    // CSSOM writes are allowed under style-src 'self' (only markup styles are not)
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight, 140) + "px";
  }

  // -------------------------------------------------------- login/logout --

  function showView() {
    var signedIn = !!state.token;
    show(ui.login, !signedIn);
    show(ui.chat, signedIn);
    show(ui.account, signedIn);
    if (signedIn) {
      var name = state.user && state.user.name ? state.user.name : null;
      ui.who.textContent = name ? "Signed in as " + name : "Signed in";
    }
    refreshStatus();
  }

  function focusFirst() {
    if (state.token) {
      ui.input.focus();
    } else {
      (ui.email.value ? ui.password : ui.email).focus();
    }
  }

  function loginError(text) {
    ui.loginError.textContent = text;
    show(ui.loginError, !!text);
    ui.email.setAttribute("aria-invalid", text ? "true" : "false");
    ui.password.setAttribute("aria-invalid", text ? "true" : "false");
  }

  function onLoginSubmit(ev) {
    ev.preventDefault();
    var email = ui.email.value.trim();
    var password = ui.password.value;
    if (!email || !password) {
      loginError("Please enter your email and password.");
      (email ? ui.password : ui.email).focus();
      return;
    }
    loginError("");
    ui.loginSubmit.disabled = true;
    ui.loginSubmit.textContent = "Signing in…";
    fetch(ORIGIN + "/api/login", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ brand: brand, email: email, password: password })
    }).then(function (res) {
      return res.json().catch(function () {
        return {};
      }).then(function (body) {
        return { status: res.status, body: body, headers: res.headers };
      });
    }).then(function (r) {
      if (r.status === 200 && r.body && r.body.token) {
        ui.password.value = "";
        signedIn(r.body.token, r.body.user || null);
        return;
      }
      if (r.status === 429) {
        var after = parseInt(r.headers.get("Retry-After") || "", 10);
        loginError(after > 0
          ? "Too many attempts. Please try again in " + Math.max(1, Math.ceil(after / 60)) + " minute" + (Math.ceil(after / 60) > 1 ? "s" : "") + "."
          : "Too many attempts. Please wait a few minutes and try again.");
      } else if (r.status === 401) {
        loginError("Wrong email or password. Please try again.");
        ui.password.select();
      } else {
        loginError(r.body && r.body.detail ? String(r.body.detail) : "Sign-in failed. Please try again.");
      }
    }, function () {
      loginError("Can't reach support right now. Check your connection and try again.");
    }).then(function () {
      ui.loginSubmit.disabled = false;
      ui.loginSubmit.textContent = "Sign in";
    });
  }

  function signedIn(token, user) {
    state.token = token;
    state.user = user;
    // the user first: other tabs react to the token key and then read the user
    store(USER_KEY, user ? JSON.stringify(user) : null);
    store(TOKEN_KEY, token);
    loginError("");
    showView();
    restoreOutbox();
    connect();
    if (state.open) {
      ui.input.focus();
    }
  }

  // the session is gone (logout here or in another tab, or an expired token)
  function signedOut(reason) {
    disconnect();
    state.token = null;
    state.user = null;
    store(TOKEN_KEY, null);
    store(USER_KEY, null);
    clearPending();
    clearMessages();
    state.conversationState = null;
    state.agentName = null;
    state.queue = null;
    showAttachError("");
    setRemoteTyping(null);
    afterMessagesChanged(false);
    showView();
    loginError(reason || "");
    if (state.open) {
      focusFirst();
    }
  }

  function onLogout() {
    var token = state.token;
    dropOutbox(); // signing out on purpose: unsent text is not kept for the next person at this browser
    if (token) {
      fetch(ORIGIN + "/api/logout", {
        method: "POST",
        headers: { Authorization: "Bearer " + token }
      }).catch(function () {
        /* the token is dropped here anyway */
      });
    }
    signedOut("");
  }

  // another tab signed in or out
  function onStorage(ev) {
    if (ev.key !== TOKEN_KEY) {
      return;
    }
    if (!ev.newValue && state.token) {
      signedOut("");
    } else if (ev.newValue && ev.newValue !== state.token) {
      disconnect();
      clearPending();
      clearMessages();
      signedIn(ev.newValue, loadUser());
    }
  }

  // -------------------------------------------------------- open/close --

  function setOpen(open) {
    state.open = open;
    show(ui.panel, open);
    ui.root.classList.toggle("cbw-open", open);
    ui.launcher.setAttribute("aria-expanded", open ? "true" : "false");
    ui.launcher.setAttribute("aria-label", open
      ? "Close chat"
      : "Open chat with " + brandName + " support");
    if (open) {
      state.unread = 0;
      show(ui.badge, false);
      connect();
      afterMessagesChanged(true);
      focusFirst();
    }
  }

  // ------------------------------------------------------------- wiring --

  ui.launcher.addEventListener("click", function () {
    setOpen(!state.open);
  });
  ui.close.addEventListener("click", function () {
    setOpen(false);
    ui.launcher.focus();
  });
  ui.panel.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") {
      setOpen(false);
      ui.launcher.focus();
    }
  });
  ui.login.addEventListener("submit", onLoginSubmit);
  ui.logout.addEventListener("click", onLogout);
  ui.composer.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = ui.input.value;
    if (!text.trim()) {
      return;
    }
    ui.input.value = "";
    ui.send.disabled = true;
    autosize();
    sendText(text);
  });
  ui.input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      if (typeof ui.composer.requestSubmit === "function") {
        ui.composer.requestSubmit();
      } else {
        ui.composer.dispatchEvent(new Event("submit", { cancelable: true }));
      }
    }
  });
  ui.input.addEventListener("input", onInput);
  ui.attach.addEventListener("click", function () {
    showAttachError("");
    ui.file.click();
  });
  ui.file.addEventListener("change", onFilesChosen);
  ui.input.addEventListener("paste", function (ev) {
    // a screenshot pasted from the clipboard is attached like a chosen file
    var items = ev.clipboardData && ev.clipboardData.files ? Array.prototype.slice.call(ev.clipboardData.files) : [];
    if (!items.length || !state.token) {
      return;
    }
    ev.preventDefault();
    attachFiles(items);
  });
  ui.attachErrorClose.addEventListener("click", function () {
    showAttachError("");
    ui.input.focus();
  });
  ui.input.addEventListener("blur", stopTyping);
  ui.messages.addEventListener("scroll", function () {
    var m = ui.messages;
    state.stickToBottom = m.scrollHeight - m.scrollTop - m.clientHeight < 40;
  });
  if (typeof ResizeObserver === "function") {
    // the list gets shorter when the typing line, an upload error or the
    // handoff line appears: keep the latest message in view
    new ResizeObserver(function () {
      if (state.stickToBottom) {
        scrollToBottom();
      }
    }).observe(ui.messages);
  }
  window.addEventListener("storage", onStorage);
  document.addEventListener("click", function (ev) {
    var t = ev.target && ev.target.closest ? ev.target.closest("[data-chatbot-open]") : null;
    if (t) {
      ev.preventDefault();
      setOpen(true);
    }
  });

  function mount() {
    var css = el("link", { rel: "stylesheet", href: CSS_URL, "data-chatbot-widget-css": brand });
    var reveal = function () {
      show(ui.root, true);
    };
    css.addEventListener("load", reveal);
    css.addEventListener("error", reveal);
    document.head.appendChild(css);
    document.body.appendChild(ui.root);
    showView();
    afterMessagesChanged(false);
    if (state.token) {
      restoreOutbox(); // what a reload during an outage left unsent
      // connect right away so agent replies are counted as unread
      connect();
    }
  }

  window.__chatbotWidgets[brand] = {
    open: function () {
      setOpen(true);
    },
    close: function () {
      setOpen(false);
    }
  };

  if (document.body) {
    mount();
  } else {
    document.addEventListener("DOMContentLoaded", mount);
  }
})();
