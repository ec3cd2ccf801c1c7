"""chatbot/nlu/language.py: a message is called another language only when
it surely is. Every English message below gives None; every other one its
language. The lists are the ones behind the figures in docs/nlu.md, "Other
languages" (tuning set, then a validation set written afterwards)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from chatbot.nlu import language
from chatbot.nlu.language import LanguageData, LanguageDetector

REPO = Path(__file__).resolve().parent.parent
DATA_FILE = REPO / "intents" / "languages.yaml"
DETECTOR = LanguageDetector(LanguageData.load(DATA_FILE))
detect_language = DETECTOR.detect

# Our customers' English: short, sloppy, record numbers, brand names.
ENGLISH = [
    "ok",
    "k",
    "thx",
    "ty",
    "yes pls",
    "no",
    "nope",
    "ya",
    "yep",
    "hi",
    "hello",
    "hey there",
    "CT-100234",
    "ct 100234",
    "#100234",
    "1Z999AA10123456784",
    "TT-2001",
    "RF-5001 ??",
    "where r my earbuds",
    "wheres my order",
    "where is my refund",
    "order status",
    "cancel",
    "cancel pls",
    "i want to cancel my order",
    "cancel order CT-100300 asap",
    "my package never came",
    "parcel not arrived yet",
    "tracking says delivered but nothing here",
    "can u check my ordr status pls",
    "whats the staus of order CT-100235",
    "wheres my stuff i orderd last week",
    "it says processing for 4 days now",
    "refund?",
    "when do i get my money back",
    "i want a refund",
    "money back plz",
    "ttr-e",
    "ttr-e billing",
    "TikTok Shop",
    "tiktok shop seller here",
    "how do i open a store on tiktok shop",
    "talk to human",
    "agent pls",
    "real person",
    "lol",
    "omg",
    "wtf is this",
    "this is ridiculous",
    "bruh",
    "hmm",
    "idk",
    "nvm",
    "thank u so much",
    "thanks!!",
    "bye",
    "cya",
    "gud",
    "gr8 thx",
    "kk",
    "payment failed",
    "card declined again",
    "paypal not working",
    "can i pay w klarna",
    "invoice pls",
    "need a receipt for my last bill",
    "why was i charged twice",
    "the size is wrong",
    "wrong colour",
    "item broken",
    "earbuds dont work",
    "change adress",
    "change size 10 instead of 9",
    "can i return it",
    "return label?",
    "how long does shipping take",
    "do u ship to canada",
    "is there a discount code",
    "promo code not workin",
    "login not working",
    "forgot password",
    "pw reset link expired",
    "acct hacked??",
    "settlement withdrawal WD-7001 pending",
    "when is my payout",
    "fulfilment center address",
    "im so confused",
    "pls help",
    "help me",
    "hellooo anyone there",
    "u there?",
    "ordr numbr is CT100234",
    "plz chek my refnd RF5001",
    "y is it taking so long",
    "i ordered a phone case on monday",
    "good morning",
    "gm",
    "sup",
    "yo",
    "Is my order CT-100300 confirmed? I placed it this morning.",
    "adidas shoes",
    "nike air max",
    "samsung galaxy buds",
    "iphone 15 case",
    "can i speak to a manager",
    "escalate",
    "dispute",
    "chargeback",
    "ETA?",
    "asap",
    "urgent!!!",
    "???",
    "...",
    ":)",
    "👍",
    "ok 👍",
    "merci",
    "danke",
    "gracias",
    "samsung galaxy buds",
    "adidas ultraboost size 9",
    "nike air force ones",
    "apple airpods pro",
    "dyson airwrap",
    "stanley cup tumbler",
    "crocs",
    "lululemon leggings",
    "shein haul",
    "yo wassup",
    "heyyy",
    "helo",
    "hiya",
    "gday mate",
    "cheers mate",
    "ta",
    "cool cool",
    "kinda annoyed tbh",
    "super frustrated rn",
    "ugh",
    "ffs",
    "smh",
    "ngl this sucks",
    "plz respond",
    "anybody home",
    "ur bot is useless",
    "useless bot",
    "stupid bot",
    "lemme talk to sumone",
    "customer service",
    "customer care number",
    "live chat",
    "package lost",
    "parcel missing",
    "missing item",
    "damaged box",
    "leaking bottle",
    "late delivery",
    "delivery late again",
    "courier never showed up",
    "fedex tracking",
    "ups says exception",
    "usps label created only",
    "royal mail",
    "dhl express",
    "double charge",
    "charged 2x",
    "overcharged",
    "promo didnt apply",
    "coupon expired",
    "gift card balance",
    "apple pay",
    "google pay",
    "afterpay",
    "klarna installments",
    "cancel subscription",
    "unsubscribe",
    "delete my account",
    "close acct",
    "new phone number",
    "update email",
    "shipping adress wrong",
    "wrong adress",
    "exchange for bigger size",
    "too small",
    "doesnt fit",
    "color faded",
    "smells weird",
    "is this legit",
    "scam?",
    "fraud alert",
    "suspicious login",
    "2fa code not coming",
    "verification code?",
    "otp not received",
    "captcha broken",
    "app keeps crashing",
    "page wont load",
    "error 500",
    "blank screen",
    "checkout stuck",
    "cart empty",
    "hong kong address",
    "los angeles warehouse",
    "san diego",
    "new jersey",
    "puerto rico",
    "jose garcia",
    "maria lopez here",
    "jean pierre",
    "hans mueller",
    "sofia rossi",
    "la la land",
    "que sera sera",
    "deja vu",
    "cafe latte",
    "adios",
    "ciao",
    "hasta la vista baby",
    "merch drop",
    "pre order",
    "backorder",
    "restock when",
    "sold out?",
    "in stock?",
    "mnbvcxz lkjh",
    "asdf",
    "test",
    "testing 123",
    "hmmm ok",
    "k thx bye",
    "wait what",
    "so confused rn",
    "im so confused",
    "ikr",
    "fr fr",
    "no cap",
    "bet",
    "Pokémon cards",
    "Nestlé",
    "crème brûlée",
    "naïve question",
    "résumé template",
    "Zoë here",
]

# Product and place names, and phrases English borrows, that a product search
# or a chat in English may be made of alone: never a reason to answer "we chat
# in English".
NAMES_AND_BORROWINGS = [
    "mi casa su casa",
    "dolce gabbana perfume",
    "maison margiela replica",
    "jose cuervo tequila",
    "louis vuitton bag",
    "yves saint laurent",
    "la roche posay sunscreen",
    "van cleef arpels",
    "de beers diamonds",
    "la mer cream",
    "le labo santal",
    "estee lauder serum",
    "giorgio armani si",
    "carolina herrera good girl",
    "paco rabanne one million",
    "jean paul gaultier le male",
    "chloe nomade",
    "hugo boss bottled",
    "tory burch sandals",
    "salvatore ferragamo belt",
    "bottega veneta pouch",
    "miu miu glasses",
    "loro piana loafers",
    "max mara coat",
    "zara larsson tickets",
    "el pollo loco",
    "taco bell",
    "la croix sparkling water",
    "el dorado",
    "san francisco giants",
    "los angeles lakers",
    "real madrid jersey",
    "bayern munchen shirt",
    "borussia dortmund",
    "paris saint germain",
    "ac milan",
    "juventus kit",
    "deutsch bank",
    "deutsche bank",
    "frau blucher",
    "pain au chocolat",
    "creme de la creme",
    "pina colada mix",
    "dulce de leche",
    "tres leches cake",
    "pan de muerto",
    "pho tai chin",
    "banh xeo",
    "nasi goreng",
    "mie goreng instant",
    "teh botol",
    "da bomb hot sauce",
    "la sportiva boots",
    "o neill wetsuit",
    "di giorno pizza",
    "de la soul vinyl",
    "sin city blu ray",
    "los lobos",
    "la la anthony",
    "kim kardashian skims",
    "cade bezos",
    "nero sugar daddy",
    "bella ciao remix",
    "despacito",
    "baila conmigo",
    "la bamba",
    "como la flor",
    "te amo",
    "amor prohibido",
    "ay caramba",
    "que onda",
    "ole ole ole",
    "mama mia",
    "dios mio",
    "mamma mia musical",
]

FOREIGN = {
    "es": [
        "hola, donde esta mi pedido?",
        "no hablo ingles",
        "quiero cancelar mi pedido",
        "mi paquete no ha llegado todavía",
        "necesito un reembolso por favor",
        "cuándo llega mi pedido",
        "hola necesito ayuda con mi pedido",
        "donde esta mi reembolso",
        "buenas tardes, tengo un problema con mi compra",
        "me llegó el producto roto",
        "alguien habla español?",
        "xq no me llega mi paquete",
    ],
    "fr": [
        "bonjour, où est ma commande",
        "je ne parle pas anglais",
        "je veux annuler ma commande",
        "mon colis n'est pas encore arrivé",
        "quand est-ce que je serai remboursé ?",
        "ou est mon colis svp",
        "salut, j'ai un problème avec ma commande",
        "quelqu'un parle français ?",
        "le produit est arrivé cassé",
        "jai pas recu mon colis",
    ],
    "de": [
        "wo ist meine Bestellung",
        "ich spreche kein Englisch",
        "ich möchte meine Bestellung stornieren",
        "mein Paket ist noch nicht angekommen",
        "wann bekomme ich mein Geld zurück",
        "hallo, wo bleibt mein paket",
        "guten Tag, ich habe ein Problem mit meiner Bestellung",
        "spricht hier jemand Deutsch?",
        "die Lieferung ist beschädigt",
        "warum dauert das so lange",
    ],
    "pt": [
        "olá, onde está o meu pedido?",
        "não falo inglês",
        "quero cancelar a minha encomenda",
        "meu pacote ainda não chegou",
        "cade meu pedido",
        "bom dia, tenho um problema com a minha compra",
        "alguém fala português?",
        "o produto chegou quebrado",
    ],
    "it": [
        "ciao, dov'è il mio ordine?",
        "non parlo inglese",
        "voglio annullare il mio ordine",
        "il pacco non è ancora arrivato",
        "quando arriva il mio pacco",
        "buongiorno, ho un problema con il mio acquisto",
        "qualcuno parla italiano?",
        "il prodotto è arrivato rotto",
    ],
    "nl": [
        "waar is mijn bestelling",
        "ik spreek geen engels",
        "mijn pakket is nog niet aangekomen",
        "goedemiddag, ik heb een probleem met mijn bestelling",
        "spreekt iemand nederlands?",
    ],
    "pl": [
        "gdzie jest moje zamówienie",
        "nie mówię po angielsku",
        "chcę anulować zamówienie",
        "dzień dobry, mam problem z zamówieniem",
        "czy ktoś mówi po polsku?",
    ],
    "tr": ["ingilizce bilmiyorum", "merhaba, siparişimle ilgili bir sorun var", "türkçe konuşan var mı?"],
    "ru": [
        "где мой заказ",
        "я не говорю по-английски",
        "хочу отменить заказ",
        "здравствуйте, у меня проблема с заказом",
        "кто-нибудь говорит по-русски?",
    ],
    "uk": ["де моє замовлення", "добрий день, маю проблему із замовленням"],
    "zh": ["我的订单在哪里", "我不会说英语", "我想取消订单", "你好，我的包裹还没到", "有人会说中文吗"],
    "ja": ["注文はどこですか", "英語が話せません", "こんにちは、荷物がまだ届いていません"],
    "ko": ["제 주문은 어디에 있나요", "영어를 못해요", "안녕하세요, 주문에 문제가 있어요"],
    "ar": ["أين طلبي", "لا أتكلم الإنجليزية", "مرحبا، لدي مشكلة في طلبي"],
    "vi": ["đơn hàng của tôi ở đâu", "tôi không nói được tiếng anh", "xin chào, tôi có vấn đề với đơn hàng"],
    "id": ["di mana pesanan saya", "saya tidak bisa bahasa inggris"],
    "hi": ["मेरा ऑर्डर कहाँ है"],
    "th": ["คำสั่งซื้อของฉันอยู่ที่ไหน"],
    "el": ["πού είναι η παραγγελία μου", "γεια σας, έχω πρόβλημα με την παραγγελία μου"],
    "he": ["איפה ההזמנה שלי", "שלום, יש לי בעיה עם ההזמנה"],
    "ro": ["bună ziua, am o problemă cu comanda mea"],
    "sv": ["hej, jag har ett problem med min beställning"],
    "cs": ["dobrý den, mám problém s objednávkou"],
    "hu": ["jó napot, problémám van a rendelésemmel"],
    "fa": ["سلام، سفارش من کجاست"],
}

# Known misses, kept so that a change which makes them worse (another language)
# shows: two Turkish words with no language word among them, and three that the
# model gives Turkish only 46 % (the threshold is 50 %).
MISSED = [("tr", "siparişim nerede"), ("tr", "kargom hala gelmedi")]


@pytest.mark.parametrize("text", ENGLISH + NAMES_AND_BORROWINGS)
def test_english_and_unsure_give_none(text):
    assert detect_language(text) is None


@pytest.mark.parametrize("code,text", [(c, t) for c, texts in FOREIGN.items() for t in texts])
def test_other_languages_are_named(code, text):
    assert detect_language(text) == code


@pytest.mark.parametrize("code,text", MISSED)
def test_known_misses_are_not_misnamed(code, text):
    assert detect_language(text) in (None, code)


def test_enough_languages_and_messages():
    assert len(FOREIGN) >= 8 and sum(map(len, FOREIGN.values())) >= 40
    assert len(ENGLISH) >= 60


@pytest.mark.parametrize("text", ["", "   ", "👍", "!!!", "CT-100234 CT-100235", "\n\t"])
def test_nothing_to_read(text):
    assert detect_language(text) is None


def test_every_brand_example_and_dev_message_is_english():
    """The brands' training examples and the dev set are our customers' English
    (3,000-odd messages): not one may be called another language."""
    yaml = YAML(typ="safe")
    texts = [
        str(e)
        for path in sorted(REPO.glob("intents/*/intents/*.yaml"))
        for e in (yaml.load(path.read_text(encoding="utf-8")) or {}).get("examples") or []
    ]
    dev = yaml.load((REPO / "tests/data/dev.yaml").read_text(encoding="utf-8"))
    texts += [str(item["text"]) for item in dev]
    assert len(texts) > 1000
    assert [(t, detect_language(t)) for t in texts if detect_language(t)] == []


def test_data_file_is_consistent():
    data = LanguageData.load(DATA_FILE)
    assert "en" in data.languages and len(set(data.languages)) == len(data.languages)
    assert set(data.everyday_words) <= set(data.languages)
    assert all(w == w.lower() and w.isalpha() for w in data.english_words)
    # a word cannot both make a message English and name another language
    assert not data.english_words & set(data.language_words)


def test_data_file_errors_are_reported(tmp_path):
    path = tmp_path / "languages.yaml"
    path.write_text("languages: [es, fr]\nenglish_words: [the]\n")
    with pytest.raises(ValueError, match="must include en"):
        LanguageData.load(path)
    path.write_text("languages: [en, fr]\nenglish_words: [the]\nlanguage_words: {de: [deutsch]}\n")
    with pytest.raises(ValueError, match="de is not in"):
        LanguageData.load(path)


def test_nlu_package_imports_only_itself():
    """chatbot/nlu/ imports nothing from the rest of chatbot/."""
    tree = ast.parse(Path(language.__file__).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            assert not node.module.startswith("chatbot") or node.module.startswith("chatbot.nlu"), node.module
        if isinstance(node, ast.Import):
            assert not any(a.name.startswith("chatbot") for a in node.names)
