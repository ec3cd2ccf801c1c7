/*
 * Support chatbot: the DOM, storage and HTTP helpers the consoles share
 * (agent.html, supervisor.html, operator.html load it before their own script).
 *
 * Elements are built with createElement and textContent only: text from the
 * server or a customer is never parsed as HTML. The widget keeps its own copy
 * of these few lines, as it is one script embedded on other sites.
 */
(function () {
  "use strict";

  function byId(id) {
    return document.getElementById(id);
  }

  // attrs: "class", "text" (textContent) or any attribute; null, undefined
  // and false are left out, true is an empty attribute
  function setAttrs(node, attrs) {
    if (!attrs) {
      return;
    }
    Object.keys(attrs).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) {
        return;
      }
      if (name === "class") {
        node.setAttribute("class", value);
      } else if (name === "text") {
        node.textContent = value;
      } else {
        node.setAttribute(name, value === true ? "" : String(value));
      }
    });
  }

  // children: nodes, or strings (as text nodes); null, undefined and false are skipped
  function append(node, children) {
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) {
        return;
      }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function clear(node) {
    while (node.firstChild) {
      node.removeChild(node.firstChild);
    }
    return node;
  }

  function show(node, visible) {
    if (visible) {
      node.removeAttribute("hidden");
    } else {
      node.setAttribute("hidden", "");
    }
  }

  // localStorage, where the browser allows it: when it is blocked, a session
  // lasts as long as the page
  function store(key, value) {
    try {
      if (value === null || value === undefined) {
        window.localStorage.removeItem(key);
      } else {
        window.localStorage.setItem(key, value);
      }
    } catch (e) {
      /* storage blocked */
    }
  }

  function load(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (e) {
      return null;
    }
  }

  function loadJson(key) {
    try {
      return JSON.parse(load(key) || "null");
    } catch (e) {
      return null;
    }
  }

  // A JSON request to this server with the session's bearer token:
  // resolves to {status, body, headers}, body {} when the answer is not JSON.
  function request(path, token, options) {
    options = options || {};
    var headers = { Accept: "application/json" };
    if (token) {
      headers.Authorization = "Bearer " + token;
    }
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
    }
    return fetch(window.location.origin + path, {
      method: options.method || "GET",
      headers: headers,
      body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
      credentials: "same-origin"
    }).then(function (res) {
      return res.json().catch(function () {
        return {};
      }).then(function (body) {
        return { status: res.status, body: body, headers: res.headers };
      });
    });
  }

  window.ChatbotDom = Object.freeze({
    $: byId, el: el, setAttrs: setAttrs, append: append, clear: clear, show: show,
    store: store, load: load, loadJson: loadJson, request: request
  });
})();
