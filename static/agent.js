/*
 * Support chatbot: the agent console (static/agent.html).
 *
 * Agents sign in, go online or away, see their brand's live queue, take
 * conversations (assigned automatically up to their cap, or with Accept), and
 * answer several customers at once, with the customer's records beside each
 * transcript, canned answers from the policy, internal notes and typing
 * indicators both ways.
 *
 * Plain JavaScript, no build step. The DOM is built with createElement and
 * textContent only: text from the server or a customer is never parsed as
 * HTML. Nothing inline, so the page runs under "script-src 'self'; style-src
 * 'self'".
 *
 * Wire contract: the /agent namespace of shared/spec/protocol.md, and
 * docs/handoff.md.
 */
(function () {
  "use strict";

  var ORIGIN = window.location.origin;
  var TOKEN_KEY = "chatbot.agent.token";
  var USER_KEY = "chatbot.agent.user";
  var STATUS_KEY = "chatbot.agent.status";
  var SOUND_KEY = "chatbot.agent.sound";
  var LAYOUT_KEY = "chatbot.agent.layout";
  var SEEN_KEY = "chatbot.agent.seen";
  var BASE_TITLE = "Agent console";
  var MAX_TEXT = 4000;
  var ACK_TIMEOUT_MS = 15000;
  var TYPING_IDLE_MS = 1500; // stop "typing" after this long without input
  var TYPING_SHOW_MAX_MS = 15000; // hide a customer's "typing" that never ended
  var WELCOME_SETTLE_MS = 2500; // after the first queue of a connection, re-sent chats have arrived
  var TEAM_REFRESH_MS = 20000;
  var ORPHAN_KEEP_MS = 30000; // messages of a chat we are about to get

  var REASONS = {
    human_agent: "Asked for a person",
    not_understood: "The bot did not understand twice",
    dispute: "Dispute: a person must act",
    account_security: "Urgent security problem"
  };
  var ENDED_TEXT = {
    resolved: "You resolved this conversation. The customer was asked to rate it.",
    released: "You put this conversation back in the queue.",
    handback: "You handed this conversation back to the bot.",
    transferred: "You transferred this conversation",
    lost: "This conversation is no longer assigned to you (it was closed, moved to a ticket or requeued while you were away)."
  };

  // ------------------------------------------------------------ helpers --

  var dom = window.ChatbotDom;
  var $ = dom.$, el = dom.el, clear = dom.clear, show = dom.show;
  var store = dom.store, load = dom.load, loadJson = dom.loadJson;

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

  function str(value) {
    return value === null || value === undefined ? "" : String(value);
  }

  function parseTime(iso) {
    var t = iso ? Date.parse(iso) : NaN;
    return isNaN(t) ? null : t;
  }

  function formatTime(iso) {
    var t = parseTime(iso);
    if (t === null) {
      return "";
    }
    var d = new Date(t);
    var sameDay = d.toDateString() === new Date().toDateString();
    return d.toLocaleString(undefined, sameDay
      ? { hour: "2-digit", minute: "2-digit" }
      : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function formatDate(iso) {
    var t = parseTime(iso);
    return t === null ? "" : new Date(t).toLocaleDateString(undefined, { month: "short", day: "numeric", year: "numeric" });
  }

  // 75 -> "1:15", 3725 -> "1:02:05"
  function formatDuration(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var sec = s % 60;
    var mm = h ? (m < 10 ? "0" : "") + m : String(m);
    return (h ? h + ":" : "") + mm + ":" + (sec < 10 ? "0" : "") + sec;
  }

  function formatMoney(cents, currency) {
    if (typeof cents !== "number") {
      return "";
    }
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "USD" }).format(cents / 100);
    } catch (e) {
      return (cents / 100).toFixed(2) + " " + str(currency);
    }
  }

  function percent(share) {
    return typeof share === "number" ? Math.round(share * 100) + "%" : "";
  }

  function humanize(code) {
    return str(code).replace(/_/g, " ");
  }

  function itemsText(raw) {
    var items = raw;
    if (typeof raw === "string") {
      try {
        items = JSON.parse(raw);
      } catch (e) {
        return raw;
      }
    }
    if (!Array.isArray(items)) {
      return str(raw);
    }
    return items.map(function (i) {
      if (!i || typeof i !== "object") {
        return str(i);
      }
      return (i.quantity && i.quantity !== 1 ? i.quantity + " × " : "") + str(i.name);
    }).join(", ");
  }

  // --------------------------------------------------------- DOM handles --

  var ui = {
    loginScreen: $("login-screen"),
    loginForm: $("login-form"),
    loginBrand: $("login-brand"),
    loginEmail: $("login-email"),
    loginPassword: $("login-password"),
    loginError: $("login-error"),
    loginSubmit: $("login-submit"),
    app: $("app"),
    brandChip: $("brand-chip"),
    statusOnline: $("status-online"),
    statusAway: $("status-away"),
    connection: $("connection"),
    connectionText: $("connection-text"),
    soundToggle: $("sound-toggle"),
    me: $("me"),
    logout: $("logout"),
    queue: $("queue"),
    queueCount: $("queue-count"),
    queueEmpty: $("queue-empty"),
    queueLegend: $("queue-legend"),
    queueAnnounce: $("queue-announce"),
    team: $("team"),
    tabs: $("tabs"),
    layoutTabs: $("layout-tabs"),
    layoutColumns: $("layout-columns"),
    workspace: $("workspace"),
    workspaceEmpty: $("workspace-empty"),
    toasts: $("toasts")
  };

  // ------------------------------------------------------------- state --

  var state = {
    token: load(TOKEN_KEY),
    user: loadJson(USER_KEY),
    status: load(STATUS_KEY) === "away" ? "away" : "online",
    sound: load(SOUND_KEY) !== "off",
    layout: load(LAYOUT_KEY) === "columns" ? "columns" : "tabs",
    socket: null,
    connected: false,
    everConnected: false,
    welcome: null, // {resent: {id: true}, settled: bool} while a connection's re-sends arrive
    queue: { items: [], target: 300, breach: 600 },
    skew: 0, // server clock minus this machine's clock, in ms
    convs: {}, // conversation id -> conversation
    order: [], // conversation ids, in tab order
    active: null,
    canned: null,
    team: [],
    newChats: 0,
    orphans: [], // {at, msg}: messages that came before their conversation
    retryTimer: null,
    retryDelay: 2000
  };

  // ------------------------------------------------------------- sound --

  var audio = null;

  function unlockAudio() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) {
      return;
    }
    try {
      if (!audio) {
        audio = new Ctx();
      }
      if (audio.state === "suspended") {
        audio.resume();
      }
    } catch (e) {
      audio = null;
    }
  }

  // Two short tones; no audio file.
  function beep() {
    if (!state.sound) {
      return;
    }
    unlockAudio();
    if (!audio) {
      return;
    }
    try {
      var t = audio.currentTime + 0.01;
      [[880, 0], [1320, 0.16]].forEach(function (tone) {
        var osc = audio.createOscillator();
        var gain = audio.createGain();
        osc.type = "sine";
        osc.frequency.setValueAtTime(tone[0], t + tone[1]);
        gain.gain.setValueAtTime(0.0001, t + tone[1]);
        gain.gain.exponentialRampToValueAtTime(0.25, t + tone[1] + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, t + tone[1] + 0.14);
        osc.connect(gain);
        gain.connect(audio.destination);
        osc.start(t + tone[1]);
        osc.stop(t + tone[1] + 0.15);
      });
    } catch (e) {
      /* no sound: the title-bar notice still shows */
    }
  }

  function renderSound() {
    ui.soundToggle.setAttribute("aria-pressed", state.sound ? "true" : "false");
    ui.soundToggle.textContent = state.sound ? "Sound on" : "Sound off";
  }

  // ---------------------------------------------------------- the title --

  function renderTitle() {
    document.title = state.newChats > 0
      ? "(" + state.newChats + ") " + (state.newChats === 1 ? "New chat" : "New chats") + " — " + BASE_TITLE
      : BASE_TITLE;
  }

  function noticeNewChat() {
    state.newChats += 1;
    renderTitle();
    beep();
  }

  // The agent has seen the console: the notice goes.
  function seen() {
    if (state.newChats && document.visibilityState !== "hidden") {
      state.newChats = 0;
      renderTitle();
    }
  }

  // ------------------------------------------------------------ toasts --

  function toast(text, kind) {
    var node = el("div", { class: "ac-toast ac-toast-" + (kind || "info"), "data-testid": "toast", text: text });
    ui.toasts.appendChild(node);
    setTimeout(function () {
      if (node.parentNode) {
        node.parentNode.removeChild(node);
      }
    }, 6000);
  }

  function errorText(ack, fallback) {
    if (ack && ack.error === "already_assigned") {
      return "Another agent has already taken this conversation.";
    }
    if (ack && ack.error === "agent_not_available") {
      return "That agent is not online any more.";
    }
    return ack && (ack.detail || ack.error) ? String(ack.detail || ack.error) : fallback;
  }

  // --------------------------------------------------------------- HTTP --

  function api(path, options) {
    return dom.request(path, state.token, options);
  }

  // -------------------------------------------------------- connection --

  function setConnection(kind, text) {
    ui.connection.setAttribute("data-state", kind);
    ui.connectionText.textContent = text;
  }

  function refreshConnection() {
    if (state.connected) {
      setConnection(state.status === "away" ? "away" : "online",
        state.status === "away" ? "Connected · away: no new chats" : "Connected · receiving chats");
    } else if (state.everConnected) {
      setConnection("reconnecting", "Reconnecting…");
    } else {
      setConnection("connecting", "Connecting…");
    }
  }

  // A cluster's HAProxy routes on this query parameter (`balance url_param
  // affinity`, docs/deployment.md "HAProxy in front"), and engine.io-client
  // repeats `query` on every request, long-polling ones included: all of an
  // agent's requests, and all their consoles, reach one process. A short hash
  // (FNV-1a, 32 bits): the token, a credential, never appears in a URL or a
  // proxy's log. Before /api/me has answered (storage kept only the token),
  // the token's hash: the consoles of that session still stay together.
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
    if (typeof window.io !== "function") {
      setConnection("error", "The chat client did not load; reload the page.");
      return;
    }
    refreshConnection();
    var socket = window.io(ORIGIN + "/agent", {
      // a function, so that every (re)connection sends the current token and,
      // per conversation still open here, the last seq seen: the server then
      // re-sends only the messages missed meanwhile
      auth: function (cb) {
        var auth = { token: state.token };
        var seen = lastSeqs();
        if (Object.keys(seen).length) {
          auth.last_seq = seen;
        }
        if (state.status === "away") {
          // presence is per connection on the server: away from the first moment,
          // so nothing is assigned before the console could say so
          auth.status = "away";
        }
        cb(auth);
      },
      query: { affinity: affinity() },
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      withCredentials: false
    });
    state.socket = socket;

    socket.on("connect", function () {
      state.connected = true;
      state.retryDelay = 2000;
      var reconnect = state.everConnected;
      state.everConnected = true;
      state.welcome = { resent: {}, settled: false, reconnect: reconnect };
      refreshConnection();
      Object.keys(state.convs).forEach(function (id) {
        resendPending(state.convs[id]);
      });
      refreshTeam();
      renderAll();
    });
    socket.on("disconnect", function (reason) {
      state.connected = false;
      Object.keys(state.convs).forEach(function (id) {
        var conv = state.convs[id];
        setCustomerTyping(conv, null);
        conv.typingSent = false;
        Object.keys(conv.pending).forEach(function (cid) {
          var p = conv.pending[cid];
          if (!p.failed) {
            p.waiting = true;
            p.status.textContent = "Waiting for connection…";
          }
        });
      });
      refreshConnection();
      renderAll();
      if (reason === "io server disconnect" && state.socket === socket) {
        scheduleRetry(socket); // a dead session ends in connect_error "unauthorized"
      }
    });
    socket.on("connect_error", function (err) {
      state.connected = false;
      if (err && err.message === "unauthorized") {
        signedOut("Your session has ended, or this account is not an agent. Please sign in again.");
        return;
      }
      if (err && err.message === "origin_not_allowed") {
        setConnection("error", "The server refuses connections from this page's address.");
        return;
      }
      refreshConnection();
      if (!socket.active) {
        scheduleRetry(socket);
      }
    });
    socket.on("queue", onQueue);
    socket.on("assigned", onAssigned);
    socket.on("message", onMessage);
    socket.on("typing", onTyping);
    socket.on("note", onNote);
    socket.on("resync", onResync);
  }

  function maxSeq(conv) {
    var max = -1;
    Object.keys(conv.messages).forEach(function (k) {
      var seq = conv.messages[k].seq;
      if (typeof seq === "number" && seq > max) {
        max = seq;
      }
    });
    return max;
  }

  function lastSeqs() {
    var seen = {};
    state.order.slice(-100).forEach(function (id) {
      var conv = state.convs[id];
      if (conv.ended) {
        return;
      }
      var max = maxSeq(conv);
      if (max >= 0) {
        seen[String(id)] = max;
      }
    });
    return seen;
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

  // Emit with an acknowledgement; `done(ack)` gets {ok:false, error:"timeout"}
  // when no answer comes, or {ok:false, error:"offline"} without a connection.
  function call(event, data, done) {
    if (!state.socket || !state.connected) {
      done({ ok: false, error: "offline", detail: "Not connected: try again in a moment." });
      return;
    }
    state.socket.timeout(ACK_TIMEOUT_MS).emit(event, data, function (err, ack) {
      if (err) {
        done({ ok: false, error: "timeout", detail: "No answer from the server." });
        return;
      }
      done(ack && typeof ack === "object" ? ack : { ok: false, error: "bad_answer" });
    });
  }

  // -------------------------------------------------------------- status --

  function emitStatus(status, quiet) {
    call("status", { status: status }, function (ack) {
      if (ack.ok) {
        state.status = status;
        store(STATUS_KEY, status);
        renderStatus();
        refreshConnection();
        refreshTeam();
      } else if (!quiet) {
        toast("Could not change your status: " + errorText(ack, "unknown error"), "error");
      }
    });
  }

  function renderStatus() {
    ui.statusOnline.setAttribute("aria-pressed", state.status === "online" ? "true" : "false");
    ui.statusAway.setAttribute("aria-pressed", state.status === "away" ? "true" : "false");
  }

  // --------------------------------------------------------------- queue --

  // The server's clock, estimated from the queue: each item says both when it
  // was queued and how long it has waited.
  function updateSkew(items) {
    var best = null;
    items.forEach(function (item) {
      var queued = parseTime(item.queued_at);
      if (queued !== null && typeof item.waited_seconds === "number") {
        var skew = queued + item.waited_seconds * 1000 - Date.now();
        best = best === null ? skew : Math.max(best, skew);
      }
    });
    if (best !== null) {
      state.skew = best;
    }
  }

  function serverNow() {
    return Date.now() + state.skew;
  }

  function secondsSince(iso) {
    var t = parseTime(iso);
    return t === null ? null : Math.max(0, (serverNow() - t) / 1000);
  }

  function level(seconds) {
    if (seconds === null) {
      return "ok";
    }
    if (seconds >= state.queue.breach) {
      return "breach";
    }
    if (seconds >= state.queue.target) {
      return "target";
    }
    return "ok";
  }

  function onQueue(q) {
    if (!q || typeof q !== "object") {
      return;
    }
    var items = Array.isArray(q.items) ? q.items : [];
    state.queue = {
      items: items,
      target: typeof q.target_seconds === "number" ? q.target_seconds : state.queue.target,
      breach: typeof q.breach_seconds === "number" ? q.breach_seconds : state.queue.breach
    };
    updateSkew(items);
    renderQueue();
    scheduleTeamRefresh();
    var w = state.welcome;
    if (w && !w.timer) {
      w.timer = setTimeout(function () {
        settleWelcome(w);
      }, WELCOME_SETTLE_MS);
    }
  }

  // After a reconnect the server has re-sent every conversation we still
  // hold: the ones it did not re-send are no longer ours.
  function settleWelcome(w) {
    w.settled = true;
    if (state.welcome !== w) {
      return;
    }
    state.welcome = null;
    if (!w.reconnect || !state.connected) {
      return;
    }
    state.order.forEach(function (id) {
      var conv = state.convs[id];
      if (!conv.ended && !w.resent[id]) {
        endConversation(conv, "lost");
      }
    });
  }

  function renderQueue() {
    var items = state.queue.items;
    clear(ui.queue);
    if (ui.queueCount.textContent !== String(items.length)) {
      // for screen readers: the count, not every second of the waiting times
      ui.queueAnnounce.textContent = items.length
        ? items.length + (items.length === 1 ? " customer" : " customers") + " waiting in the queue"
        : "Nobody is waiting in the queue";
    }
    ui.queueCount.textContent = String(items.length);
    ui.queueCount.setAttribute("data-level", items.length ? "busy" : "idle");
    show(ui.queueEmpty, !items.length);
    ui.queueLegend.textContent = "First reply target " + formatDuration(state.queue.target) +
      " · breach at " + formatDuration(state.queue.breach);
    items.forEach(function (item, index) {
      var waited = secondsSince(item.queued_at);
      if (waited === null) {
        waited = item.waited_seconds || 0;
      }
      var wait = el("span", {
        class: "ac-wait",
        "data-testid": "queue-wait",
        "data-level": level(waited),
        "aria-label": "waiting " + formatDuration(waited),
        text: formatDuration(waited)
      });
      wait._queuedAt = item.queued_at;
      var badges = el("span", { class: "ac-badges" }, [
        item.breached ? el("span", { class: "ac-badge ac-badge-breach", "data-testid": "queue-breached", text: "Breached" }) : null,
        !item.breached && item.flagged ? el("span", { class: "ac-badge ac-badge-target", "data-testid": "queue-flagged", text: "Over target" }) : null
      ]);
      var accept = el("button", {
        type: "button",
        class: "ac-btn ac-btn-primary ac-btn-sm",
        "data-testid": "accept",
        "aria-label": "Accept the chat with " + str(item.customer && item.customer.name),
        text: "Accept"
      });
      accept.disabled = !state.connected;
      accept.addEventListener("click", function () {
        acceptConversation(item.conversation_id, accept);
      });
      var why = REASONS[item.reason] || humanize(item.reason);
      var intent = item.intent
        ? humanize(item.intent) + (typeof item.confidence === "number" ? " · " + percent(item.confidence) : "")
        : null;
      ui.queue.appendChild(el("li", {
        class: "ac-queue-item",
        "data-testid": "queue-item",
        "data-conversation-id": item.conversation_id,
        "data-level": item.breached ? "breach" : item.flagged ? "target" : level(waited)
      }, [
        el("div", { class: "ac-queue-top" }, [
          el("span", { class: "ac-queue-pos", "aria-hidden": "true", text: String(index + 1) }),
          el("span", { class: "ac-queue-name", "data-testid": "queue-customer", text: str(item.customer && item.customer.name) || "Customer" }),
          wait
        ]),
        el("p", { class: "ac-queue-preview", "data-testid": "queue-preview", text: str(item.preview) || "(no message yet)" }),
        el("div", { class: "ac-queue-bottom" }, [
          el("div", { class: "ac-queue-meta" }, [
            el("span", { class: "ac-queue-why", title: intent ? "intent: " + intent : null, text: why }),
            badges
          ]),
          accept
        ])
      ]));
    });
  }

  function acceptConversation(conversationId, button) {
    button.disabled = true;
    button.textContent = "Accepting…";
    call("accept", { conversation_id: conversationId }, function (ack) {
      if (ack.ok && ack.conversation) {
        markSeen(ack.conversation.id, true);
        upsertConversation(ack.conversation, { activate: true, notify: false });
        return;
      }
      toast(errorText(ack, "Could not accept the conversation."), "error");
      button.disabled = false;
      button.textContent = "Accept";
    });
  }

  // ---------------------------------------------------------------- team --

  var teamTimer = null;

  function scheduleTeamRefresh() {
    clearTimeout(teamTimer);
    teamTimer = setTimeout(refreshTeam, 400);
  }

  function refreshTeam() {
    if (!state.token) {
      return Promise.resolve([]);
    }
    return api("/api/agent/team").then(function (r) {
      if (r.status === 200 && r.body && Array.isArray(r.body.agents)) {
        state.team = r.body.agents;
        renderTeam();
      } else if (r.status === 401) {
        signedOut("Your session has ended. Please sign in again.");
      }
      return state.team;
    }, function () {
      return state.team;
    });
  }

  function statusLabel(status) {
    return status === "online" ? "Online" : status === "away" ? "Away" : "Disconnected";
  }

  function renderTeam() {
    clear(ui.team);
    if (!state.team.length) {
      ui.team.appendChild(el("li", { class: "ac-empty-note", text: "Nobody is connected." }));
      return;
    }
    var me = state.user ? state.user.id : null;
    state.team.slice().sort(function (a, b) {
      return str(a.name).localeCompare(str(b.name));
    }).forEach(function (agent) {
      var chats = agent.open_chats || 0;
      ui.team.appendChild(el("li", { class: "ac-team-item", "data-testid": "team-member", "data-status": agent.status }, [
        el("span", { class: "ac-dot ac-dot-" + agent.status, "aria-hidden": "true" }),
        el("span", { class: "ac-team-name", text: str(agent.name) + (agent.id === me ? " (you)" : "") }),
        el("span", { class: "ac-team-status", text: statusLabel(agent.status) }),
        el("span", { class: "ac-team-load", text: chats + (chats === 1 ? " chat" : " chats") })
      ]));
    });
  }

  // -------------------------------------------------------- conversations --

  function isMine(msg) {
    return msg && msg.sender && msg.sender.type === "agent" && state.user && msg.sender.name === state.user.name;
  }

  function onAssigned(data) {
    var view = data && data.conversation;
    if (!view || typeof view !== "object" || view.id === undefined) {
      return;
    }
    var known = state.convs[view.id];
    var w = state.welcome;
    // New to us: not on screen, and not seen before a reload (the server
    // re-sends the chats we hold on every connect).
    var notify = !(known && !known.ended) && !wasSeen(view.id);
    markSeen(view.id, true);
    if (w) {
      w.resent[view.id] = true;
    }
    upsertConversation(view, { notify: notify, activate: false });
  }

  // The conversations this agent holds and has already been told about, kept
  // across reloads and shared by the agent's tabs.
  function seenKey() {
    return SEEN_KEY + "." + (state.user ? state.user.id : "");
  }

  function seenList() {
    var list = loadJson(seenKey());
    return Array.isArray(list) ? list : [];
  }

  function wasSeen(id) {
    return seenList().indexOf(id) !== -1;
  }

  function markSeen(id, seenNow) {
    var list = seenList().filter(function (x) {
      return x !== id;
    });
    if (seenNow) {
      list.push(id);
    }
    store(seenKey(), JSON.stringify(list.slice(-100)));
  }

  function upsertConversation(view, opts) {
    var conv = state.convs[view.id];
    var fresh = !conv;
    if (fresh) {
      conv = createConversation(view);
      state.convs[view.id] = conv;
      state.order.push(view.id);
    }
    conv.view = view;
    if (conv.ended) {
      // back to us (a transfer, or the reconnect found it still ours)
      conv.ended = null;
    }
    (Array.isArray(view.messages) ? view.messages : []).forEach(function (m) {
      addMessage(conv, m, true);
    });
    (Array.isArray(view.notes) ? view.notes : []).forEach(function (n) {
      addNote(conv, n, true);
    });
    adoptOrphans(conv);
    layoutTranscript(conv);
    renderContext(conv);
    renderConversationHeader(conv);
    if (opts.notify) {
      conv.isNew = true;
      noticeNewChat();
    }
    var current = state.active === null ? null : state.convs[state.active];
    if (opts.activate) {
      activate(conv.id);
    } else if (fresh && (!current || current.ended)) {
      // nothing else in hand: show it, without taking the focus from what the agent is doing
      activate(conv.id, document.activeElement && document.activeElement !== document.body);
    }
    renderAll();
  }

  function createConversation(view) {
    var conv = {
      id: view.id,
      view: view,
      messages: {}, // id -> message
      nodes: {}, // id -> element
      notes: {}, // id -> note
      noteNodes: {},
      pending: {}, // client_id -> pending entry
      ended: null,
      endedDetail: "",
      unread: 0,
      isNew: false,
      mode: "reply",
      typingSent: false,
      typingTimer: null,
      remoteTyping: null,
      remoteTypingTimer: null,
      stick: true,
      details: state.layout === "tabs"
    };
    buildConversation(conv);
    return conv;
  }

  function customerName(conv) {
    return str(conv.view.customer && conv.view.customer.name) || "Customer";
  }

  function buildConversation(conv) {
    var id = conv.id;
    var d = {};
    conv.dom = d;

    d.name = el("h2", { class: "ac-conv-name", "data-testid": "conversation-customer", id: "conv-title-" + id });
    d.sub = el("p", { class: "ac-conv-sub" });
    d.sla = el("span", { class: "ac-sla", "data-testid": "first-response" });
    d.resolve = el("button", { type: "button", class: "ac-btn ac-btn-primary ac-btn-sm", "data-testid": "resolve", text: "Resolve" });
    d.release = el("button", { type: "button", class: "ac-btn ac-btn-sm", "data-testid": "release", title: "Put it back in the queue for another agent", text: "Release" });
    d.handback = el("button", { type: "button", class: "ac-btn ac-btn-sm", "data-testid": "handback", title: "The virtual assistant takes over again", text: "Hand back to bot" });
    d.transfer = el("button", { type: "button", class: "ac-btn ac-btn-sm", "data-testid": "transfer", "aria-haspopup": "true", "aria-expanded": "false", text: "Transfer…" });
    d.transferMenu = el("div", { class: "ac-popover ac-transfer-menu", "data-testid": "transfer-menu", role: "menu", hidden: true });
    d.detailsToggle = el("button", { type: "button", class: "ac-btn ac-btn-ghost ac-btn-sm", "data-testid": "details-toggle", "aria-pressed": "true", text: "Customer" });
    d.actions = el("div", { class: "ac-conv-actions" }, [
      d.resolve, d.release, d.handback,
      el("span", { class: "ac-popover-anchor" }, [d.transfer, d.transferMenu]),
      d.detailsToggle
    ]);
    d.head = el("header", { class: "ac-conv-head" }, [
      el("div", { class: "ac-conv-who" }, [d.name, d.sub]),
      d.sla,
      d.actions
    ]);

    d.endedText = el("span", { class: "ac-ended-text" });
    d.closeTab = el("button", { type: "button", class: "ac-btn ac-btn-sm", "data-testid": "close-conversation", text: "Close" });
    d.ended = el("div", { class: "ac-ended", role: "status", "data-testid": "conversation-ended", hidden: true }, [d.endedText, d.closeTab]);

    d.transcript = el("div", {
      class: "ac-transcript",
      role: "log",
      "aria-live": "polite",
      "aria-relevant": "additions",
      "aria-label": "Conversation transcript",
      tabindex: "0",
      "data-testid": "transcript"
    });
    d.typingText = el("span");
    d.typing = el("div", { class: "ac-typing", role: "status", "data-testid": "customer-typing", hidden: true }, [
      el("span", { class: "ac-typing-dots", "aria-hidden": "true" }, [el("span"), el("span"), el("span")]),
      d.typingText
    ]);

    // the composer: a reply to the customer, or an internal note
    d.modeReply = el("button", { type: "button", class: "ac-mode", "aria-pressed": "true", "data-testid": "mode-reply", text: "Reply" });
    d.modeNote = el("button", { type: "button", class: "ac-mode", "aria-pressed": "false", "data-testid": "mode-note", text: "Internal note" });
    d.modeHint = el("span", { class: "ac-mode-hint", "data-testid": "composer-hint" });
    d.input = el("textarea", {
      class: "ac-input",
      rows: "2",
      maxlength: String(MAX_TEXT),
      "aria-label": "Reply to the customer",
      "data-testid": "composer-input"
    });
    d.cannedButton = el("button", { type: "button", class: "ac-btn ac-btn-ghost ac-btn-sm", "data-testid": "canned-button", "aria-haspopup": "true", "aria-expanded": "false", text: "Canned answers" });
    d.cannedFilter = el("input", { type: "search", class: "ac-field ac-field-sm", placeholder: "Filter by topic or words…", "aria-label": "Filter canned answers", "data-testid": "canned-filter" });
    d.cannedList = el("ul", { class: "ac-canned-list", role: "listbox", "aria-label": "Canned answers" });
    d.canned = el("div", { class: "ac-popover ac-canned", "data-testid": "canned-picker", hidden: true }, [d.cannedFilter, d.cannedList]);
    d.send = el("button", { type: "submit", class: "ac-btn ac-btn-primary ac-btn-sm", "data-testid": "send", text: "Send" });
    d.composer = el("form", { class: "ac-composer", "data-testid": "composer", "data-mode": "reply" }, [
      el("div", { class: "ac-composer-modes", role: "group", "aria-label": "What to write" }, [d.modeReply, d.modeNote, d.modeHint]),
      d.input,
      el("div", { class: "ac-composer-bar" }, [
        el("span", { class: "ac-popover-anchor ac-popover-up" }, [d.cannedButton, d.canned]),
        el("span", { class: "ac-kbd-hint", text: "Enter to send · Shift+Enter for a new line" }),
        d.send
      ])
    ]);

    d.chat = el("div", { class: "ac-chat" }, [d.transcript, d.typing, d.composer]);
    d.context = el("aside", { class: "ac-context", "data-testid": "customer-context", "aria-label": "Customer details" });
    d.root = el("section", {
      class: "ac-conv",
      role: "tabpanel",
      id: "conv-" + id,
      "aria-labelledby": "conv-title-" + id,
      "data-testid": "conversation",
      "data-conversation-id": id,
      "data-state": "live"
    }, [d.head, d.ended, el("div", { class: "ac-conv-body" }, [d.chat, d.context])]);

    // the tab
    d.tabName = el("span", { class: "ac-tab-name" });
    d.tabBadge = el("span", { class: "ac-tab-badge", "data-testid": "tab-unread", hidden: true });
    d.tabTyping = el("span", { class: "ac-tab-typing", "aria-label": "typing", hidden: true }, [el("span"), el("span"), el("span")]);
    d.tabTimer = el("span", { class: "ac-tab-timer" });
    d.tab = el("button", {
      type: "button",
      class: "ac-tab",
      role: "tab",
      id: "tab-" + id,
      "aria-controls": "conv-" + id,
      "aria-selected": "false",
      "data-testid": "conversation-tab",
      "data-conversation-id": id
    }, [d.tabName, d.tabTyping, d.tabBadge, d.tabTimer]);

    // wiring
    d.tab.addEventListener("click", function () {
      activate(id);
    });
    d.root.addEventListener("pointerdown", function () {
      if (state.active !== id) {
        activate(id, true);
      }
      markRead(conv);
    });
    d.resolve.addEventListener("click", function () {
      simpleAction(conv, "resolve", "resolved", d.resolve);
    });
    d.release.addEventListener("click", function () {
      simpleAction(conv, "release", "released", d.release);
    });
    d.handback.addEventListener("click", function () {
      simpleAction(conv, "handback", "handback", d.handback);
    });
    d.transfer.addEventListener("click", function () {
      toggleTransferMenu(conv);
    });
    d.detailsToggle.addEventListener("click", function () {
      conv.details = !conv.details;
      renderConversationHeader(conv);
    });
    d.closeTab.addEventListener("click", function () {
      removeConversation(conv);
    });
    d.modeReply.addEventListener("click", function () {
      setMode(conv, "reply");
    });
    d.modeNote.addEventListener("click", function () {
      setMode(conv, "note");
    });
    d.composer.addEventListener("submit", function (ev) {
      ev.preventDefault();
      submitComposer(conv);
    });
    d.input.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        submitComposer(conv);
      } else if (ev.key === "Escape") {
        closePopovers(conv);
      }
    });
    d.input.addEventListener("input", function () {
      onComposerInput(conv);
    });
    d.input.addEventListener("blur", function () {
      stopTyping(conv);
    });
    d.input.addEventListener("focus", function () {
      markRead(conv);
    });
    d.cannedButton.addEventListener("click", function () {
      toggleCanned(conv);
    });
    d.cannedFilter.addEventListener("input", function () {
      renderCanned(conv);
    });
    d.cannedFilter.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") {
        closePopovers(conv);
        d.input.focus();
      } else if (ev.key === "ArrowDown") {
        var first = d.cannedList.querySelector("button");
        if (first) {
          ev.preventDefault();
          first.focus();
        }
      }
    });
    d.transcript.addEventListener("scroll", function () {
      var t = d.transcript;
      conv.stick = t.scrollHeight - t.scrollTop - t.clientHeight < 40;
    });
    setMode(conv, "reply");
  }

  function activate(id, keepFocus) {
    var conv = state.convs[id];
    if (!conv) {
      return;
    }
    state.active = id;
    markRead(conv);
    renderAll();
    scrollToEnd(conv, true);
    if (!keepFocus && !conv.ended && state.layout === "tabs") {
      conv.dom.input.focus({ preventScroll: true });
    }
  }

  function markRead(conv) {
    if (conv.unread || conv.isNew) {
      conv.unread = 0;
      conv.isNew = false;
      renderTab(conv);
    }
  }

  function removeConversation(conv) {
    stopTyping(conv);
    clearTimeout(conv.remoteTypingTimer);
    if (conv.dom.root.parentNode) {
      conv.dom.root.parentNode.removeChild(conv.dom.root);
    }
    if (conv.dom.tab.parentNode) {
      conv.dom.tab.parentNode.removeChild(conv.dom.tab);
    }
    delete state.convs[conv.id];
    var at = state.order.indexOf(conv.id);
    state.order.splice(at, 1);
    if (state.active === conv.id) {
      var next = state.order[Math.min(at, state.order.length - 1)];
      state.active = next === undefined ? null : next;
    }
    renderAll();
  }

  function endConversation(conv, how, detail) {
    markSeen(conv.id, false); // should it come back to us, that is news
    conv.ended = how;
    conv.endedDetail = detail || "";
    stopTyping(conv);
    setCustomerTyping(conv, null);
    closePopovers(conv);
    renderConversationHeader(conv);
    renderTab(conv);
    renderAll();
  }

  function simpleAction(conv, event, how, button) {
    button.disabled = true;
    call(event, { conversation_id: conv.id }, function (ack) {
      button.disabled = false;
      if (ack.ok) {
        endConversation(conv, how);
        return;
      }
      if (ack.error === "forbidden" || ack.error === "not_found") {
        endConversation(conv, "lost");
        return;
      }
      toast(errorText(ack, "That did not work."), "error");
    });
  }

  // ------------------------------------------------------------ transfer --

  function toggleTransferMenu(conv) {
    var d = conv.dom;
    var open = d.transferMenu.hasAttribute("hidden");
    closePopovers(conv);
    if (!open) {
      return;
    }
    show(d.transferMenu, true);
    d.transfer.setAttribute("aria-expanded", "true");
    clear(d.transferMenu);
    d.transferMenu.appendChild(el("p", { class: "ac-popover-title", text: "Loading the team…" }));
    refreshTeam().then(function (team) {
      if (d.transferMenu.hasAttribute("hidden")) {
        return;
      }
      clear(d.transferMenu);
      d.transferMenu.appendChild(el("p", { class: "ac-popover-title", text: "Transfer " + customerName(conv) + " to" }));
      var others = team.filter(function (a) {
        return !state.user || a.id !== state.user.id;
      });
      if (!others.length) {
        d.transferMenu.appendChild(el("p", { class: "ac-empty-note", text: "No other agent is connected." }));
        return;
      }
      others.forEach(function (agent) {
        var online = agent.status === "online";
        var b = el("button", {
          type: "button",
          role: "menuitem",
          class: "ac-menu-item",
          "data-testid": "transfer-to",
          "data-agent-id": agent.id
        }, [
          el("span", { class: "ac-dot ac-dot-" + agent.status, "aria-hidden": "true" }),
          el("span", { class: "ac-menu-main", text: str(agent.name) }),
          el("span", { class: "ac-menu-aside", text: online ? (agent.open_chats || 0) + " open" : statusLabel(agent.status) })
        ]);
        b.disabled = !online;
        b.addEventListener("click", function () {
          b.disabled = true;
          call("transfer", { conversation_id: conv.id, agent_id: agent.id }, function (ack) {
            closePopovers(conv);
            if (ack.ok) {
              endConversation(conv, "transferred", " to " + str(agent.name) + ".");
              toast("Transferred to " + str(agent.name) + ".");
            } else {
              toast(errorText(ack, "The transfer did not work."), "error");
            }
          });
        });
        d.transferMenu.appendChild(b);
      });
      var first = d.transferMenu.querySelector("button:not([disabled])");
      if (first) {
        first.focus();
      }
    });
  }

  function closePopovers(conv) {
    var d = conv.dom;
    show(d.transferMenu, false);
    d.transfer.setAttribute("aria-expanded", "false");
    show(d.canned, false);
    d.cannedButton.setAttribute("aria-expanded", "false");
  }

  // -------------------------------------------------------------- canned --

  function loadCanned() {
    if (state.canned) {
      return Promise.resolve(state.canned);
    }
    return api("/api/agent/canned").then(function (r) {
      if (r.status === 200 && r.body && Array.isArray(r.body.answers)) {
        state.canned = r.body.answers;
      }
      return state.canned || [];
    }, function () {
      return [];
    });
  }

  function toggleCanned(conv) {
    var d = conv.dom;
    var open = d.canned.hasAttribute("hidden");
    closePopovers(conv);
    if (!open) {
      return;
    }
    show(d.canned, true);
    d.cannedButton.setAttribute("aria-expanded", "true");
    clear(d.cannedList);
    d.cannedList.appendChild(el("li", { class: "ac-empty-note", text: "Loading…" }));
    loadCanned().then(function () {
      renderCanned(conv);
      d.cannedFilter.focus();
    });
  }

  function renderCanned(conv) {
    var d = conv.dom;
    var words = d.cannedFilter.value.toLowerCase().split(/\s+/).filter(Boolean);
    clear(d.cannedList);
    var answers = (state.canned || []).filter(function (a) {
      var hay = (str(a.intent) + " " + str(a.text)).toLowerCase().replace(/_/g, " ");
      return words.every(function (w) {
        return hay.indexOf(w) !== -1;
      });
    });
    if (!answers.length) {
      d.cannedList.appendChild(el("li", { class: "ac-empty-note", text: state.canned ? "No answer matches." : "Canned answers are unavailable." }));
      return;
    }
    answers.forEach(function (a) {
      var b = el("button", { type: "button", class: "ac-canned-item", role: "option", "data-testid": "canned-answer", "data-intent": a.intent }, [
        el("span", { class: "ac-canned-intent", text: humanize(a.intent) }),
        el("span", { class: "ac-canned-text", text: str(a.text) }),
        a.citation ? el("span", { class: "ac-canned-cite", text: str(a.citation) }) : null
      ]);
      b.addEventListener("click", function () {
        insertIntoComposer(conv, str(a.text));
      });
      b.addEventListener("keydown", function (ev) {
        var li = b.parentNode;
        if (ev.key === "ArrowDown" && li.nextSibling) {
          ev.preventDefault();
          li.nextSibling.querySelector("button").focus();
        } else if (ev.key === "ArrowUp") {
          ev.preventDefault();
          (li.previousSibling ? li.previousSibling.querySelector("button") : d.cannedFilter).focus();
        } else if (ev.key === "Escape") {
          closePopovers(conv);
          d.input.focus();
        }
      });
      d.cannedList.appendChild(el("li", null, [b]));
    });
  }

  function insertIntoComposer(conv, text) {
    var input = conv.dom.input;
    var start = input.selectionStart === null ? input.value.length : input.selectionStart;
    var end = input.selectionEnd === null ? input.value.length : input.selectionEnd;
    var before = input.value.slice(0, start);
    var after = input.value.slice(end);
    var glue = before && !/\s$/.test(before) ? " " : "";
    input.value = (before + glue + text + after).slice(0, MAX_TEXT);
    var caret = Math.min(input.value.length, (before + glue + text).length);
    closePopovers(conv);
    input.focus();
    input.setSelectionRange(caret, caret);
    onComposerInput(conv);
  }

  // ------------------------------------------------------------ composer --

  function setMode(conv, mode) {
    var d = conv.dom;
    if (conv.mode !== mode) {
      stopTyping(conv);
    }
    conv.mode = mode;
    d.composer.setAttribute("data-mode", mode);
    d.modeReply.setAttribute("aria-pressed", mode === "reply" ? "true" : "false");
    d.modeNote.setAttribute("aria-pressed", mode === "note" ? "true" : "false");
    d.modeHint.textContent = mode === "note" ? "Internal — the customer never sees this" : "";
    d.input.setAttribute("placeholder", mode === "note"
      ? "Write a note for your team…"
      : "Reply to " + customerName(conv) + "…");
    d.input.setAttribute("aria-label", mode === "note" ? "Internal note" : "Reply to the customer");
    d.send.textContent = mode === "note" ? "Add note" : "Send";
  }

  function onComposerInput(conv) {
    if (conv.mode !== "reply" || conv.ended || !state.connected) {
      return;
    }
    if (!conv.dom.input.value.trim()) {
      stopTyping(conv);
      return;
    }
    if (!conv.typingSent) {
      conv.typingSent = true;
      state.socket.emit("typing", { conversation_id: conv.id, on: true });
    }
    clearTimeout(conv.typingTimer);
    conv.typingTimer = setTimeout(function () {
      stopTyping(conv);
    }, TYPING_IDLE_MS);
  }

  function stopTyping(conv) {
    clearTimeout(conv.typingTimer);
    if (conv.typingSent) {
      conv.typingSent = false;
      if (state.socket && state.connected) {
        state.socket.emit("typing", { conversation_id: conv.id, on: false });
      }
    }
  }

  function submitComposer(conv) {
    if (conv.ended) {
      return;
    }
    var text = conv.dom.input.value.trim();
    if (!text) {
      return;
    }
    if (text.length > MAX_TEXT) {
      text = text.slice(0, MAX_TEXT);
    }
    if (conv.mode === "note") {
      sendNote(conv, text);
    } else {
      conv.dom.input.value = "";
      stopTyping(conv);
      sendReply(conv, text);
    }
  }

  function sendReply(conv, text) {
    var clientId = uuid();
    var node = buildMessage(conv, {
      id: null,
      sender: { type: "agent", name: state.user ? state.user.name : "You" },
      text: text,
      created_at: new Date(serverNow()).toISOString()
    });
    node.classList.add("ac-msg-pending");
    node.setAttribute("data-pending", "true");
    var status = el("div", { class: "ac-msg-status", text: "Sending…" });
    node.appendChild(status);
    var entry = { el: node, text: text, status: status, failed: false, waiting: false, attempt: 0 };
    conv.pending[clientId] = entry;
    conv.stick = true;
    layoutTranscript(conv);
    emitReply(conv, clientId, entry);
  }

  // Send or resend; the same client_id makes a repeat harmless (stored once).
  function emitReply(conv, clientId, entry) {
    entry.attempt += 1;
    var attempt = entry.attempt;
    if (!state.socket || !state.connected) {
      entry.waiting = true;
      entry.status.textContent = "Waiting for connection…";
      return;
    }
    entry.waiting = false;
    entry.status.textContent = "Sending…";
    state.socket.timeout(ACK_TIMEOUT_MS).emit("message", { conversation_id: conv.id, client_id: clientId, text: entry.text }, function (err, ack) {
      if (entry.attempt !== attempt || conv.pending[clientId] !== entry) {
        return;
      }
      if (err) {
        if (!state.connected) {
          entry.waiting = true;
          entry.status.textContent = "Waiting for connection…";
        } else {
          markFailed(conv, clientId, entry, "No answer from the server.");
        }
        return;
      }
      if (ack && ack.ok && ack.message) {
        delete conv.pending[clientId];
        if (entry.el.parentNode) {
          entry.el.parentNode.removeChild(entry.el);
        }
        addMessage(conv, ack.message);
        return;
      }
      if (ack && (ack.error === "forbidden" || ack.error === "not_found")) {
        markFailed(conv, clientId, entry, "you no longer hold this conversation.");
        endConversation(conv, "lost");
        return;
      }
      markFailed(conv, clientId, entry, errorText(ack, "The message was not accepted."));
    });
  }

  function markFailed(conv, clientId, entry, detail) {
    entry.failed = true;
    entry.el.classList.add("ac-msg-failed");
    entry.el.setAttribute("data-pending", "failed");
    clear(entry.status);
    entry.status.setAttribute("role", "alert");
    entry.status.appendChild(document.createTextNode("Not sent: " + detail + " "));
    var retry = el("button", { type: "button", class: "ac-linkbtn", text: "Retry" });
    retry.addEventListener("click", function () {
      entry.failed = false;
      entry.el.classList.remove("ac-msg-failed");
      entry.el.setAttribute("data-pending", "true");
      entry.status.removeAttribute("role");
      entry.status.textContent = "Sending…";
      emitReply(conv, clientId, entry);
    });
    entry.status.appendChild(retry);
  }

  function resendPending(conv) {
    Object.keys(conv.pending).forEach(function (cid) {
      var p = conv.pending[cid];
      if (p.waiting && !p.failed) {
        emitReply(conv, cid, p);
      }
    });
  }

  function sendNote(conv, text) {
    var d = conv.dom;
    d.send.disabled = true;
    call("note", { conversation_id: conv.id, text: text }, function (ack) {
      d.send.disabled = false;
      if (ack.ok && ack.note) {
        if (d.input.value.trim() === text) {
          d.input.value = "";
        }
        addNote(conv, ack.note);
        return;
      }
      if (ack.error === "forbidden" || ack.error === "not_found") {
        endConversation(conv, "lost");
      }
      toast("The note was not saved: " + errorText(ack, "unknown error"), "error");
    });
  }

  // ------------------------------------------------------- the transcript --

  function senderType(msg) {
    var t = msg.sender && msg.sender.type;
    return t === "customer" || t === "bot" || t === "agent" || t === "system" ? t : "system";
  }

  function buildMessage(conv, msg) {
    var type = senderType(msg);
    var name = str(msg.sender && msg.sender.name) ||
      (type === "customer" ? customerName(conv) : type === "bot" ? "Assistant" : type === "agent" ? "Agent" : "System");
    var meta = el("div", { class: "ac-msg-meta" }, [
      el("span", { class: "ac-msg-sender", text: name }),
      type === "bot" && msg.intent ? el("span", {
        class: "ac-intent",
        "data-testid": "bot-intent",
        title: "What the bot understood, and how sure it was",
        text: humanize(msg.intent) + (typeof msg.confidence === "number" ? " · " + percent(msg.confidence) : "")
      }) : null,
      type === "bot" && !msg.intent && typeof msg.confidence === "number" ? el("span", {
        class: "ac-intent ac-intent-none",
        "data-testid": "bot-intent",
        text: "not understood · " + percent(msg.confidence)
      }) : null,
      el("time", { class: "ac-msg-time", datetime: msg.created_at || null, text: formatTime(msg.created_at) })
    ]);
    var bubble = el("div", { class: "ac-bubble", text: str(msg.text) });
    var node = el("div", {
      class: "ac-msg ac-msg-" + type + (type === "agent" && (isMine(msg) || msg.id === null) ? " ac-msg-mine" : ""),
      "data-testid": "message",
      "data-sender": type
    }, [meta, bubble]);
    if (msg.id !== null && msg.id !== undefined) {
      node.setAttribute("data-id", String(msg.id));
    }
    if (typeof msg.seq === "number") {
      node.setAttribute("data-seq", String(msg.seq));
    }
    if (type === "bot" && msg.citation) {
      node.appendChild(el("div", { class: "ac-cite", text: str(msg.citation) }));
    }
    return node;
  }

  function addMessage(conv, msg, batch) {
    if (!msg || msg.id === undefined || msg.id === null) {
      return false;
    }
    var key = String(msg.id);
    if (conv.messages[key]) {
      return false; // already shown (dedupe by id)
    }
    conv.messages[key] = msg;
    conv.nodes[key] = buildMessage(conv, msg);
    if (isMine(msg)) {
      settlePendingLike(conv, msg);
    }
    if (!batch) {
      layoutTranscript(conv);
      renderConversationHeader(conv);
      renderTab(conv);
    }
    return true;
  }

  // Our reply came back as an event before its acknowledgement: the stored
  // message replaces the one shown as "Sending…" (the late ack is then ignored).
  function settlePendingLike(conv, msg) {
    var ids = Object.keys(conv.pending);
    for (var i = 0; i < ids.length; i++) {
      var entry = conv.pending[ids[i]];
      if (!entry.failed && entry.text === str(msg.text).trim()) {
        delete conv.pending[ids[i]];
        if (entry.el.parentNode) {
          entry.el.parentNode.removeChild(entry.el);
        }
        return;
      }
    }
  }

  function buildNote(note) {
    return el("div", { class: "ac-note", "data-testid": "note", "data-id": note.id }, [
      el("div", { class: "ac-note-label", "data-testid": "note-label", text: "Internal — the customer never sees this" }),
      el("div", { class: "ac-msg-meta" }, [
        el("span", { class: "ac-msg-sender", text: str(note.agent_name) || "Agent" }),
        el("time", { class: "ac-msg-time", datetime: note.created_at || null, text: formatTime(note.created_at) })
      ]),
      el("div", { class: "ac-note-text", text: str(note.text) })
    ]);
  }

  function addNote(conv, note, batch) {
    if (!note || note.id === undefined || note.id === null || conv.notes[note.id]) {
      return;
    }
    conv.notes[note.id] = note;
    conv.noteNodes[note.id] = buildNote(note);
    if (!batch) {
      conv.stick = true;
      layoutTranscript(conv);
      renderContext(conv);
    }
  }

  // Stored messages by seq, each note after the messages written before it,
  // then the replies still in flight.
  function layoutTranscript(conv) {
    var t = conv.dom.transcript;
    var stick = conv.stick;
    var messages = Object.keys(conv.messages).map(function (k) {
      return conv.messages[k];
    }).sort(function (a, b) {
      return (a.seq || 0) - (b.seq || 0) || a.id - b.id;
    });
    var notes = Object.keys(conv.notes).map(function (k) {
      return conv.notes[k];
    }).sort(function (a, b) {
      return str(a.created_at) < str(b.created_at) ? -1 : str(a.created_at) > str(b.created_at) ? 1 : a.id - b.id;
    });
    var wanted = [];
    var handoffAt = conv.view.handoff ? parseTime(conv.view.handoff.queued_at) : null;
    var markerDone = handoffAt === null;
    if (!conv.dom.handoffMarker) {
      conv.dom.handoffMarker = el("div", { class: "ac-marker", role: "separator", "data-testid": "handoff-marker" });
    }
    var ni = 0;
    messages.forEach(function (m) {
      var mt = parseTime(m.created_at);
      while (ni < notes.length && mt !== null && parseTime(notes[ni].created_at) !== null && parseTime(notes[ni].created_at) < mt) {
        wanted.push(conv.noteNodes[notes[ni].id]);
        ni += 1;
      }
      if (!markerDone && mt !== null && mt > handoffAt) {
        wanted.push(conv.dom.handoffMarker);
        markerDone = true;
      }
      wanted.push(conv.nodes[String(m.id)]);
    });
    if (!markerDone) {
      wanted.push(conv.dom.handoffMarker);
    }
    for (; ni < notes.length; ni++) {
      wanted.push(conv.noteNodes[notes[ni].id]);
    }
    Object.keys(conv.pending).forEach(function (cid) {
      wanted.push(conv.pending[cid].el);
    });
    if (conv.view.handoff) {
      var h = conv.view.handoff;
      conv.dom.handoffMarker.textContent = "Handed to a person · " + (REASONS[h.reason] || humanize(h.reason)) +
        (h.intent ? " · " + humanize(h.intent) + (typeof h.confidence === "number" ? " " + percent(h.confidence) : "") : "");
    }
    // move nodes into place only where they differ (keeps focus and selection)
    var child = t.firstChild;
    wanted.forEach(function (node) {
      if (child === node) {
        child = child.nextSibling;
      } else {
        t.insertBefore(node, child);
      }
    });
    while (child) {
      var next = child.nextSibling;
      t.removeChild(child);
      child = next;
    }
    if (stick) {
      scrollToEnd(conv);
    }
  }

  function scrollToEnd(conv, force) {
    if (force) {
      conv.stick = true;
    }
    var t = conv.dom.transcript;
    t.scrollTop = t.scrollHeight;
  }

  // --------------------------------------------------- incoming events --

  function onMessage(msg) {
    if (!msg || typeof msg !== "object") {
      return;
    }
    var conv = state.convs[msg.conversation_id];
    if (!conv) {
      // a chat being accepted: its first messages may beat the acknowledgement
      keepOrphan(msg);
      return;
    }
    var before = maxSeq(conv);
    var added = addMessage(conv, msg);
    if (!added) {
      return;
    }
    if (typeof msg.seq === "number" && before >= 0 && msg.seq > before + 1) {
      fillGap(conv, before); // something between was lost on its way here
    }
    var type = senderType(msg);
    if (type === "customer") {
      setCustomerTyping(conv, null);
      if (state.active !== conv.id || document.visibilityState === "hidden") {
        conv.unread += 1;
        renderTab(conv);
      }
    }
  }

  // The messages of a held chat after `after`, fetched: a live message arrived
  // past a gap in seq, or the server said `resync` (a cluster's process lost
  // the channel the processes share, and what was sent meanwhile was lost).
  function fillGap(conv, after) {
    var socket = state.socket;
    if (!socket || !socket.connected || conv.ended || conv.fillingGap) {
      return;
    }
    conv.fillingGap = true;
    var ask = { conversation_id: conv.id };
    if (after >= 0) {
      ask.last_seq = after;
    }
    socket.timeout(10000).emit("history", ask, function (err, ack) {
      conv.fillingGap = false;
      if (err || !ack || !ack.ok || !Array.isArray(ack.messages)) {
        return;
      }
      ack.messages.forEach(onMessage);
    });
  }

  function onResync() {
    state.order.forEach(function (id) {
      var conv = state.convs[id];
      if (conv && !conv.ended) {
        fillGap(conv, maxSeq(conv));
      }
    });
    var socket = state.socket;
    if (socket && socket.connected) {
      socket.timeout(10000).emit("queue", {}, function (err, ack) {
        if (!err && ack && ack.ok) {
          onQueue(ack.queue);
        }
      });
    }
  }

  function keepOrphan(msg) {
    var now = Date.now();
    state.orphans = state.orphans.filter(function (o) {
      return now - o.at < ORPHAN_KEEP_MS;
    });
    state.orphans.push({ at: now, msg: msg });
  }

  function adoptOrphans(conv) {
    state.orphans = state.orphans.filter(function (o) {
      if (o.msg.conversation_id === conv.id) {
        addMessage(conv, o.msg, true);
        return false;
      }
      return true;
    });
  }

  function onTyping(t) {
    if (!t || typeof t !== "object") {
      return;
    }
    var conv = state.convs[t.conversation_id];
    var sender = t.sender && typeof t.sender === "object" ? t.sender : {};
    if (!conv || sender.type !== "customer") {
      return;
    }
    setCustomerTyping(conv, t.on ? str(sender.name) || customerName(conv) : null);
  }

  function setCustomerTyping(conv, name) {
    clearTimeout(conv.remoteTypingTimer);
    conv.remoteTyping = name;
    if (name) {
      conv.dom.typingText.textContent = name + " is typing…";
      conv.remoteTypingTimer = setTimeout(function () {
        setCustomerTyping(conv, null);
      }, TYPING_SHOW_MAX_MS);
    }
    show(conv.dom.typing, !!name);
    show(conv.dom.tabTyping, !!name);
  }

  function onNote(note) {
    if (!note || typeof note !== "object") {
      return;
    }
    var conv = state.convs[note.conversation_id];
    if (conv) {
      addNote(conv, note);
    }
  }

  // -------------------------------------------------------------- context --

  function section(title, testid, children, count) {
    return el("section", { class: "ac-ctx-section", "data-testid": testid }, [
      el("h3", { class: "ac-ctx-title" }, [title, typeof count === "number" ? el("span", { class: "ac-count ac-count-sm", text: String(count) }) : null])
    ].concat(children));
  }

  function statusBadge(status) {
    var label = humanize(status);
    return el("span", { class: "ac-status", "data-status": str(status), text: label.charAt(0).toUpperCase() + label.slice(1) });
  }

  function recordRow(testid, number, status, lines) {
    return el("li", { class: "ac-record", "data-testid": testid }, [
      el("div", { class: "ac-record-top" }, [el("span", { class: "ac-record-no", text: str(number) }), statusBadge(status)]),
      el("div", { class: "ac-record-lines" }, lines.filter(Boolean).map(function (l) {
        return el("span", { text: l });
      }))
    ]);
  }

  function records(list, testid, make) {
    if (!list.length) {
      return [el("p", { class: "ac-empty-note", text: "None." })];
    }
    return [el("ul", { class: "ac-records" }, list.map(function (r) {
      return make(r);
    }))];
  }

  function renderContext(conv) {
    var v = conv.view;
    var c = v.customer || {};
    var h = v.handoff;
    var recs = v.records || {};
    var ctx = conv.dom.context;
    clear(ctx);

    ctx.appendChild(section("Customer", "ctx-customer", [
      el("dl", { class: "ac-dl" }, [
        el("dt", { text: "Name" }), el("dd", { text: str(c.name) }),
        el("dt", { text: "Email" }), el("dd", null, [c.email ? el("a", { href: "mailto:" + c.email, text: str(c.email) }) : ""]),
        el("dt", { text: "Account" }), el("dd", { text: c.role === "merchant" ? "Merchant (store)" : "Customer" })
      ])
    ]));

    if (h) {
      ctx.appendChild(section("Handoff", "ctx-handoff", [
        el("dl", { class: "ac-dl" }, [
          el("dt", { text: "Why" }), el("dd", { text: REASONS[h.reason] || humanize(h.reason) }),
          el("dt", { text: "Intent" }), el("dd", {
            "data-testid": "handoff-intent",
            text: h.intent ? humanize(h.intent) + (typeof h.confidence === "number" ? " · " + percent(h.confidence) + " confident" : "") : "none (not understood)"
          }),
          el("dt", { text: "Queued" }), el("dd", { text: formatTime(h.queued_at) }),
          h.flagged_at ? el("dt", { text: "Flagged" }) : null,
          h.flagged_at ? el("dd", { class: "ac-warn-text", text: "over the target at " + formatTime(h.flagged_at) }) : null,
          h.breached_at ? el("dt", { text: "Breached" }) : null,
          h.breached_at ? el("dd", { class: "ac-danger-text", text: formatTime(h.breached_at) }) : null
        ])
      ]));
    }

    if (recs.orders) {
      ctx.appendChild(section("Orders", "ctx-orders", records(recs.orders, "order", function (o) {
        return recordRow("order", o.number, o.status, [
          itemsText(o.items),
          formatMoney(o.total_cents, o.currency) + (o.created_at ? " · ordered " + formatDate(o.created_at) : ""),
          o.notes ? str(o.notes) : null
        ]);
      }), recs.orders.length));
    }
    if (recs.purchases) {
      ctx.appendChild(section("Purchases", "ctx-purchases", records(recs.purchases, "purchase", function (p) {
        return recordRow("purchase", p.number, p.status, [
          str(p.package),
          formatMoney(p.amount_cents, p.currency) + (p.purchased_at ? " · bought " + formatDate(p.purchased_at) : ""),
          p.activated_at ? "activated " + formatDate(p.activated_at) : null
        ]);
      }), recs.purchases.length));
    }
    if (recs.refunds) {
      ctx.appendChild(section("Refunds", "ctx-refunds", records(recs.refunds, "refund", function (r) {
        return recordRow("refund", r.number, r.status, [
          formatMoney(r.amount_cents, r.currency) + (r.order_number || r.purchase_number ? " · for " + str(r.order_number || r.purchase_number) : ""),
          r.requested_at ? "requested " + formatDate(r.requested_at) : null,
          r.reason ? str(r.reason) : null
        ]);
      }), recs.refunds.length));
    }
    if (recs.withdrawals) {
      ctx.appendChild(section("Withdrawals", "ctx-withdrawals", records(recs.withdrawals, "withdrawal", function (w) {
        return recordRow("withdrawal", w.number, w.status, [
          formatMoney(w.amount_cents, w.currency),
          w.requested_at ? "requested " + formatDate(w.requested_at) : null,
          w.paid_at ? "paid " + formatDate(w.paid_at) : null
        ]);
      }), recs.withdrawals.length));
    }

    var earlier = Array.isArray(v.earlier_conversations) ? v.earlier_conversations : [];
    ctx.appendChild(section("Earlier conversations", "ctx-earlier", earlier.length
      ? [el("ul", { class: "ac-earlier" }, earlier.map(function (e) {
        return el("li", { "data-testid": "earlier-conversation" }, [
          el("span", { class: "ac-record-no", text: "#" + e.id }),
          el("span", { text: formatDate(e.created_at) }),
          statusBadge(e.state)
        ]);
      }))]
      : [el("p", { class: "ac-empty-note", text: "This is the first conversation." })], earlier.length));

    var noteCount = Object.keys(conv.notes).length;
    ctx.appendChild(el("p", { class: "ac-ctx-foot", text: noteCount
      ? noteCount + (noteCount === 1 ? " internal note" : " internal notes") + " in the transcript."
      : "Internal notes (visible to your team only) appear in the transcript." }));
  }

  // --------------------------------------------------------- rendering --

  function firstResponseAt(conv) {
    var h = conv.view.handoff;
    if (h && h.first_response_at) {
      return h.first_response_at;
    }
    var first = null;
    Object.keys(conv.messages).forEach(function (k) {
      var m = conv.messages[k];
      if (senderType(m) === "agent" && (!h || !h.queued_at || str(m.created_at) >= str(h.queued_at))) {
        if (first === null || str(m.created_at) < first) {
          first = m.created_at;
        }
      }
    });
    return first;
  }

  // The first-response clock of a conversation: {text, level}
  function slaOf(conv) {
    var h = conv.view.handoff;
    if (!h || !h.queued_at) {
      return { text: "", short: "", level: "ok" };
    }
    var answered = firstResponseAt(conv);
    if (answered) {
      var took = (parseTime(answered) - parseTime(h.queued_at)) / 1000;
      return { text: "First reply after " + formatDuration(took), short: "", level: "done" };
    }
    var waited = secondsSince(h.queued_at) || 0;
    return { text: "Waiting for your first reply · " + formatDuration(waited), short: formatDuration(waited), level: level(waited) };
  }

  function renderConversationHeader(conv) {
    var d = conv.dom;
    var c = conv.view.customer || {};
    d.name.textContent = customerName(conv);
    d.sub.textContent = [str(c.email), c.role === "merchant" ? "merchant" : null, "#" + conv.id].filter(Boolean).join(" · ");
    var sla = slaOf(conv);
    d.sla.textContent = conv.ended ? "" : sla.text;
    d.sla.setAttribute("data-level", sla.level);
    show(d.sla, !conv.ended && !!sla.text);
    d.root.setAttribute("data-state", conv.ended ? "ended" : "live");
    show(d.actions, true);
    [d.resolve, d.release, d.handback, d.transfer].forEach(function (b) {
      show(b, !conv.ended);
    });
    show(d.ended, !!conv.ended);
    d.endedText.textContent = conv.ended ? ENDED_TEXT[conv.ended] + (conv.endedDetail || (conv.ended === "transferred" ? "." : "")) : "";
    d.input.disabled = !!conv.ended;
    d.send.disabled = !!conv.ended;
    d.cannedButton.disabled = !!conv.ended;
    show(d.composer, !conv.ended);
    d.root.classList.toggle("ac-show-details", conv.details);
    d.detailsToggle.setAttribute("aria-pressed", conv.details ? "true" : "false");
    d.detailsToggle.textContent = conv.details ? "Hide customer" : "Customer";
  }

  function renderTab(conv) {
    var d = conv.dom;
    d.tabName.textContent = customerName(conv);
    var selected = state.active === conv.id;
    d.tab.setAttribute("aria-selected", selected ? "true" : "false");
    d.tab.setAttribute("tabindex", selected ? "0" : "-1");
    d.tab.setAttribute("data-state", conv.ended ? "ended" : "live");
    d.tab.classList.toggle("ac-tab-new", conv.isNew);
    show(d.tabBadge, conv.unread > 0 || conv.isNew);
    d.tabBadge.textContent = conv.unread > 0 ? String(conv.unread) : "new";
    var sla = slaOf(conv);
    d.tabTimer.textContent = conv.ended ? "ended" : sla.short;
    d.tabTimer.setAttribute("data-level", conv.ended ? "done" : sla.level);
  }

  function renderAll() {
    // tabs and panels in order
    var ids = state.order;
    ids.forEach(function (id) {
      var conv = state.convs[id];
      ui.tabs.appendChild(conv.dom.tab);
      if (conv.dom.root.parentNode !== ui.workspace) {
        ui.workspace.appendChild(conv.dom.root);
      }
      renderTab(conv);
      var visible = state.layout === "columns" ? true : state.active === id;
      show(conv.dom.root, visible);
      conv.dom.root.classList.toggle("ac-active", state.active === id);
    });
    ids.forEach(function (id) {
      ui.workspace.appendChild(state.convs[id].dom.root); // keep DOM order = tab order
    });
    show(ui.workspaceEmpty, !ids.length);
    ui.workspace.setAttribute("data-layout", state.layout);
    ui.workspace.setAttribute("data-count", String(ids.length));
    ui.layoutTabs.setAttribute("aria-pressed", state.layout === "tabs" ? "true" : "false");
    ui.layoutColumns.setAttribute("aria-pressed", state.layout === "columns" ? "true" : "false");
    renderQueue();
  }

  // Every second: waiting times and first-response clocks move on.
  function tick() {
    if (!state.token) {
      return;
    }
    var waits = ui.queue.querySelectorAll("[data-testid=queue-wait]");
    Array.prototype.forEach.call(waits, function (node) {
      var s = secondsSince(node._queuedAt);
      if (s !== null) {
        node.textContent = formatDuration(s);
        node.setAttribute("data-level", level(s));
        node.setAttribute("aria-label", "waiting " + formatDuration(s));
        var li = node.closest("[data-testid=queue-item]");
        if (li && li.getAttribute("data-level") !== "breach") {
          var lv = level(s);
          if (lv !== "ok") {
            li.setAttribute("data-level", lv);
          }
        }
      }
    });
    state.order.forEach(function (id) {
      var conv = state.convs[id];
      var sla = slaOf(conv);
      if (!conv.ended) {
        conv.dom.sla.textContent = sla.text;
        conv.dom.sla.setAttribute("data-level", sla.level);
      }
      conv.dom.tabTimer.textContent = conv.ended ? "ended" : sla.short;
      conv.dom.tabTimer.setAttribute("data-level", conv.ended ? "done" : sla.level);
    });
  }

  function setLayout(layout) {
    state.layout = layout;
    store(LAYOUT_KEY, layout);
    state.order.forEach(function (id) {
      var conv = state.convs[id];
      conv.details = layout === "tabs";
      renderConversationHeader(conv);
    });
    renderAll();
  }

  // -------------------------------------------------------- login/logout --

  function loginError(text) {
    ui.loginError.textContent = text;
    show(ui.loginError, !!text);
    ui.loginEmail.setAttribute("aria-invalid", text ? "true" : "false");
    ui.loginPassword.setAttribute("aria-invalid", text ? "true" : "false");
  }

  function onLoginSubmit(ev) {
    ev.preventDefault();
    unlockAudio(); // a user gesture: sound may play later
    var brand = ui.loginBrand.value;
    var email = ui.loginEmail.value.trim();
    var password = ui.loginPassword.value;
    if (!email || !password) {
      loginError("Please enter your email and password.");
      (email ? ui.loginPassword : ui.loginEmail).focus();
      return;
    }
    loginError("");
    ui.loginSubmit.disabled = true;
    ui.loginSubmit.textContent = "Signing in…";
    var token = state.token;
    state.token = null;
    api("/api/login", { method: "POST", body: { brand: brand, email: email, password: password } }).then(function (r) {
      if (r.status === 200 && r.body && r.body.token) {
        var user = r.body.user || {};
        if (user.role !== "agent") {
          state.token = r.body.token;
          api("/api/logout", { method: "POST" });
          state.token = null;
          loginError(user.role === "operator"
            ? "This is an operator account: use the supervisor view."
            : "Only agents can use the agent console.");
          return;
        }
        ui.loginPassword.value = "";
        signedIn(r.body.token, user);
        return;
      }
      state.token = token;
      if (r.status === 429) {
        loginError("Too many attempts. Please wait a few minutes and try again.");
      } else if (r.status === 401) {
        loginError("Wrong email or password for this brand.");
        ui.loginPassword.select();
      } else {
        loginError(r.body && r.body.detail ? String(r.body.detail) : "Sign-in failed. Please try again.");
      }
    }, function () {
      state.token = token;
      loginError("Can't reach the server. Check your connection and try again.");
    }).then(function () {
      ui.loginSubmit.disabled = false;
      ui.loginSubmit.textContent = "Sign in";
    });
  }

  function showView() {
    var signedInNow = !!state.token;
    show(ui.loginScreen, !signedInNow);
    show(ui.app, signedInNow);
    document.body.classList.toggle("ac-signed-in", signedInNow);
    if (signedInNow) {
      var u = state.user || {};
      ui.me.textContent = str(u.name);
      ui.brandChip.textContent = str(u.brand);
      show(ui.brandChip, !!u.brand);
    }
  }

  function signedIn(token, user) {
    state.token = token;
    state.user = user;
    store(USER_KEY, JSON.stringify(user));
    store(TOKEN_KEY, token);
    loginError("");
    showView();
    renderStatus();
    renderAll();
    connect();
    loadCanned();
  }

  function signedOut(reason) {
    disconnect();
    state.token = null;
    state.user = null;
    store(TOKEN_KEY, null);
    store(USER_KEY, null);
    state.order.slice().forEach(function (id) {
      removeConversation(state.convs[id]);
    });
    state.queue.items = [];
    state.canned = null;
    state.team = [];
    state.newChats = 0;
    renderTitle();
    showView();
    loginError(reason || "");
    ui.loginEmail.focus();
  }

  function onLogout() {
    if (state.token) {
      api("/api/logout", { method: "POST" }).catch(function () {
        /* the token is dropped here anyway */
      });
    }
    store(STATUS_KEY, null);
    state.status = "online";
    signedOut("");
  }

  // ------------------------------------------------------------- wiring --

  ui.loginForm.addEventListener("submit", onLoginSubmit);
  ui.logout.addEventListener("click", onLogout);
  ui.statusOnline.addEventListener("click", function () {
    emitStatus("online");
  });
  ui.statusAway.addEventListener("click", function () {
    emitStatus("away");
  });
  ui.soundToggle.addEventListener("click", function () {
    state.sound = !state.sound;
    store(SOUND_KEY, state.sound ? "on" : "off");
    renderSound();
    if (state.sound) {
      beep();
    }
  });
  ui.layoutTabs.addEventListener("click", function () {
    setLayout("tabs");
  });
  ui.layoutColumns.addEventListener("click", function () {
    setLayout("columns");
  });
  ui.tabs.addEventListener("keydown", function (ev) {
    if (ev.key !== "ArrowLeft" && ev.key !== "ArrowRight") {
      return;
    }
    var at = state.order.indexOf(state.active);
    if (at === -1) {
      return;
    }
    var next = state.order[(at + (ev.key === "ArrowRight" ? 1 : state.order.length - 1)) % state.order.length];
    activate(next, true);
    state.convs[next].dom.tab.focus();
    ev.preventDefault();
  });
  document.addEventListener("pointerdown", function (ev) {
    unlockAudio();
    seen();
    // a click outside a popover closes it
    state.order.forEach(function (id) {
      var d = state.convs[id].dom;
      if (!d.canned.contains(ev.target) && ev.target !== d.cannedButton &&
          !d.transferMenu.contains(ev.target) && ev.target !== d.transfer) {
        closePopovers(state.convs[id]);
      }
    });
  });
  document.addEventListener("keydown", seen);
  window.addEventListener("focus", function () {
    if (state.active !== null && state.convs[state.active]) {
      markRead(state.convs[state.active]);
    }
  });
  window.addEventListener("storage", function (ev) {
    if (ev.key === TOKEN_KEY && !ev.newValue && state.token) {
      signedOut("You signed out in another tab.");
    }
  });
  setInterval(tick, 1000);
  setInterval(function () {
    if (state.connected) {
      refreshTeam();
    }
  }, TEAM_REFRESH_MS);

  renderSound();
  renderStatus();
  renderTitle();
  showView();
  if (state.token) {
    if (!state.user) {
      api("/api/me").then(function (r) {
        if (r.status === 200 && r.body && r.body.user) {
          state.user = r.body.user;
          store(USER_KEY, JSON.stringify(state.user));
          showView();
        }
      });
    }
    renderAll();
    connect();
    loadCanned();
  } else {
    ui.loginEmail.focus();
  }
})();
