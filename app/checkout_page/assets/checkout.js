// The checkout page: a small graphql-transport-ws client for paymentStatus.
// The server pushes every change; this page never polls. On any disconnect it
// reconnects with backoff and subscribes again: the first event of a new
// subscription is the current state, taken as the truth.
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("checkout-config").textContent);
  const secret = new URLSearchParams(window.location.search).get("secret") || "";
  const PING_EVERY_MS = 15000;
  const PONG_WITHIN_MS = 10000;

  const TEXT = {
    mn: {
      title: "Төлбөр төлөх", invoice: "Нэхэмжлэх", waiting: "Төлбөр хүлээж байна…",
      qrAlt: "QPay QR код", copy: "QR текст хуулах", copied: "Хуулагдлаа",
      banksHint: "Банкны аппаар төлөх:", expires: "Хүчинтэй хугацаа",
      simulate: "Төлбөр дуурайх (хөгжүүлэлт)", paid: "Төлбөр амжилттай төлөгдлөө",
      paidAmount: "Төлсөн дүн", ebarimt: "И-Баримт", ebarimtPending: "И-Баримт бэлтгэж байна…",
      ebarimtFailed: "И-Баримт гаргахад алдаа гарлаа; ажилтанд хандана уу.",
      lottery: "Сугалааны дугаар", receiptAlt: "И-Баримтын QR код",
      expired: "Нэхэмжлэлийн хугацаа дууссан. Ажилтнаас шинэ QR авна уу.",
      cancelled: "Нэхэмжлэл цуцлагдсан.",
      review: "Төлбөрийг шалгах шаардлагатай. Ажилтанд хандана уу — таны мөнгө бүртгэгдсэн.",
      refunded: "Төлбөр буцаагдсан.", refundedAmount: "Буцаасан дүн",
      refundedHint: "Асуух зүйл байвал ажилтанд хандана уу.", notFound: "Төлбөр олдсонгүй.",
      connecting: "Холбогдож байна…", reconnecting: "Холболт тасарлаа, дахин холбогдож байна…",
      bankLink: "аппаар нээх",
    },
    en: {
      title: "Pay with QPay", invoice: "Invoice", waiting: "Waiting for payment…",
      qrAlt: "QPay QR code", copy: "Copy QR text", copied: "Copied",
      banksHint: "Pay in your bank app:", expires: "Valid for",
      simulate: "Simulate payment (development)", paid: "Payment received",
      paidAmount: "Amount paid", ebarimt: "e-Barimt receipt", ebarimtPending: "Preparing the e-Barimt receipt…",
      ebarimtFailed: "The e-Barimt receipt could not be issued; please ask the staff.",
      lottery: "Lottery number", receiptAlt: "e-Barimt receipt QR code",
      expired: "This invoice has expired. Please ask the staff for a new QR code.",
      cancelled: "This invoice was cancelled.",
      review: "This payment needs a check by the staff. Your money is recorded.",
      refunded: "This payment was refunded.", refundedAmount: "Amount refunded",
      refundedHint: "If you have any questions, please ask the staff.", notFound: "Payment not found.",
      connecting: "Connecting…", reconnecting: "Connection lost, reconnecting…",
      bankLink: "open in app",
    },
  };

  // The document comes with the page (app/checkout_page/payment_status.graphql):
  // the service trusts it when only trusted documents may run.
  const SUBSCRIPTION = config.document;

  let lang = localStorage.getItem("qpg-lang") || config.lang || "mn";
  let latest = null;
  let finished = false;
  let attempt = 0;
  let socket = null;
  let pingTimer = null;
  let pongTimer = null;
  let countdownTimer = null;

  const $ = (id) => document.getElementById(id);
  const t = (key) => (TEXT[lang] && TEXT[lang][key]) || TEXT.mn[key] || key;

  function formatMoney(text, currency) {
    // Exact: the amount is a decimal string; no float ever touches it.
    const [whole, cents = "00"] = String(text).split(".");
    const unit = !currency || currency === "MNT" ? "₮" : currency;
    return whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",") + "." + cents.padEnd(2, "0") + " " + unit;
  }

  // What came back to the payer of a REFUNDED intent: all of the intent's
  // money was refunded (its paidAmount is 0.00), each QPay payment whole. A
  // checkout screen cannot read the refunds themselves (staff only), but it
  // can read the intent's own payment: exactly what came back when there was
  // one payment (the usual case), and never more than came back otherwise.
  // Not the intent's `amount`: a payment short of it, refunded, gave back less.
  function refundedMoney(intent) {
    const payment = intent.payment;
    return payment ? formatMoney(payment.amount, payment.currency) : null;
  }

  function applyLanguage() {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
    document.querySelectorAll("[data-t-alt]").forEach((el) => { el.alt = t(el.dataset.tAlt); });
    document.querySelectorAll("[data-lang]").forEach((el) => {
      el.setAttribute("aria-pressed", String(el.dataset.lang === lang));
    });
    document.title = t("title") + " · M Dent";
    render();
  }

  function setConnection(state) {
    const el = $("connection");
    if (state === "live" || finished) { el.hidden = true; return; }
    el.hidden = false;
    el.textContent = t(state);
    el.dataset.state = state;
  }

  function show(screen) {
    document.querySelectorAll(".screen").forEach((el) => { el.hidden = el.id !== "screen-" + screen; });
    document.body.dataset.screen = screen;
  }

  function renderBanks(links) {
    const list = $("banks");
    list.replaceChildren();
    links.forEach((link) => {
      const item = document.createElement("li");
      const anchor = document.createElement("a");
      anchor.className = "bank";
      anchor.href = link.link;
      anchor.setAttribute("aria-label", link.name + " — " + t("bankLink"));
      if (link.logo) {
        const logo = document.createElement("img");
        logo.src = link.logo;
        logo.alt = "";
        logo.loading = "lazy";
        logo.onerror = () => { logo.replaceWith(initial(link.name)); };
        anchor.append(logo);
      } else {
        anchor.append(initial(link.name));
      }
      const name = document.createElement("span");
      name.textContent = link.name;
      anchor.append(name);
      item.append(anchor);
      list.append(item);
    });
  }

  function initial(name) {
    const box = document.createElement("span");
    box.className = "initial";
    box.setAttribute("aria-hidden", "true");
    box.textContent = (name || "?").trim().charAt(0).toUpperCase();
    return box;
  }

  function renderCountdown(expiresAt) {
    clearInterval(countdownTimer);
    const tick = () => {
      const left = Math.max(0, Math.floor((Date.parse(expiresAt) - Date.now()) / 1000));
      $("countdown").textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    };
    tick();
    countdownTimer = setInterval(tick, 1000);
  }

  function render() {
    if (!latest) return;
    const intent = latest.intent;
    $("invoice-number").textContent = latest.invoice.number;
    // The amount asked; the paid and refunded screens put what was kept or
    // given back in its place, so the page never shows more than that.
    $("amount").textContent = formatMoney(intent.amount);
    document.body.dataset.status = intent.status;
    if (intent.status === "PENDING") {
      show("pending");
      $("qr").src = "data:image/png;base64," + intent.qrImage;
      renderBanks(intent.deeplinks || []);
      renderCountdown(intent.expiresAt);
      $("simulate").hidden = !config.simulate;
      return;
    }
    clearInterval(countdownTimer);
    if (intent.status === "PAID" && latest.settled) {
      show("paid");
      // paidAmount is the money the intent holds now: a partial refund has
      // already lowered it, so this is what was kept, not what was once paid.
      $("amount").textContent = formatMoney(intent.paidAmount);
      $("paid-amount").textContent = formatMoney(intent.paidAmount);
      renderReceipt(intent.payment && intent.payment.ebarimt);
      return;
    }
    if (intent.status === "REFUNDED") {
      show("refunded");
      const back = refundedMoney(intent);
      $("refunded-line").hidden = !back;
      $("refunded-amount").textContent = back || "";
      if (back) $("amount").textContent = back;
      return;
    }
    const screens = { EXPIRED: "expired", CANCELLED: "cancelled", NEEDS_REVIEW: "review" };
    show(screens[intent.status] || "pending");
  }

  function renderReceipt(receipt) {
    // A receipt whose payment was refunded (VOIDING, VOIDED) is no receipt.
    const current = receipt && ["PENDING", "ISSUED", "FAILED"].includes(receipt.status);
    $("ebarimt").hidden = !current;
    if (!current) return;
    $("ebarimt-pending").hidden = receipt.status !== "PENDING";
    $("ebarimt-failed").hidden = receipt.status !== "FAILED";
    const issued = receipt.status === "ISSUED";
    $("lottery-line").hidden = !(issued && receipt.lottery);
    $("lottery").textContent = receipt.lottery || "";
    const qr = $("receipt-qr");
    qr.hidden = !(issued && receipt.qrData);
    if (issued && receipt.qrData) {
      qr.src = "/checkout/" + config.intentId + "/receipt-qr.png?secret=" + encodeURIComponent(secret);
    }
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function stopTimers() {
    clearInterval(pingTimer);
    clearTimeout(pongTimer);
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(scheme + "//" + window.location.host + "/graphql", "graphql-transport-ws");
    socket.onopen = () => send({ type: "connection_init", payload: {} });
    socket.onmessage = (raw) => {
      const message = JSON.parse(raw.data);
      if (message.type === "connection_ack") {
        attempt = 0;
        setConnection("live");
        send({ id: "status", type: "subscribe", payload: { query: SUBSCRIPTION, variables: { id: config.intentId, secret: secret } } });
        pingTimer = setInterval(() => {
          send({ type: "ping" });
          pongTimer = setTimeout(() => socket.close(4000, "no pong"), PONG_WITHIN_MS);
        }, PING_EVERY_MS);
      } else if (message.type === "pong") {
        clearTimeout(pongTimer);
      } else if (message.type === "ping") {
        send({ type: "pong" });
      } else if (message.type === "next") {
        const data = message.payload && message.payload.data;
        if (data && data.paymentStatus) {
          if (!latest || data.paymentStatus.version >= latest.version || data.paymentStatus.intent.id !== latest.intent.id) {
            latest = data.paymentStatus;
          }
          render();
        } else if (message.payload && message.payload.errors) {
          finished = true;
          show("error");
        }
      } else if (message.type === "error") {
        finished = true;
        show("error");
      } else if (message.type === "complete") {
        finished = true;
        setConnection("live");
        socket.close(1000, "done");
      }
    };
    socket.onclose = () => {
      stopTimers();
      if (finished) return;
      setConnection("reconnecting");
      attempt += 1;
      const delay = Math.min(10000, 500 * 2 ** Math.min(attempt, 5)) * (0.75 + Math.random() / 2);
      setTimeout(connect, delay);
    };
  }

  $("copy-qr").addEventListener("click", async () => {
    if (!latest) return;
    try {
      await navigator.clipboard.writeText(latest.intent.qrText);
    } catch (_) {
      const area = document.createElement("textarea");
      area.value = latest.intent.qrText;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    $("copied").textContent = t("copied");
    setTimeout(() => { $("copied").textContent = ""; }, 2000);
  });

  $("simulate").addEventListener("click", async () => {
    $("simulate").disabled = true;
    try {
      await fetch("/checkout/" + config.intentId + "/simulate-payment?secret=" + encodeURIComponent(secret), { method: "POST" });
    } finally {
      setTimeout(() => { $("simulate").disabled = false; }, 1500);
    }
  });

  document.querySelectorAll("[data-lang]").forEach((button) => {
    button.addEventListener("click", () => {
      lang = button.dataset.lang;
      localStorage.setItem("qpg-lang", lang);
      applyLanguage();
    });
  });

  applyLanguage();
  setConnection("connecting");
  connect();
})();
