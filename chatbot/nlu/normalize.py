"""Text normalisation shared by every scorer: what customers type becomes
one predictable form (case, punctuation, contractions, chat shorthand, record
numbers as placeholders so the model learns "an order number", not CT-100234)."""
from __future__ import annotations

import re
import unicodedata

CONTRACTIONS = {
    "can't": "can not", "cant": "can not", "cannot": "can not", "won't": "will not", "wont": "will not",
    "don't": "do not", "dont": "do not", "doesn't": "does not", "doesnt": "does not",
    "didn't": "did not", "didnt": "did not", "isn't": "is not", "isnt": "is not",
    "aren't": "are not", "arent": "are not", "wasn't": "was not", "wasnt": "was not",
    "haven't": "have not", "havent": "have not", "hasn't": "has not", "hasnt": "has not",
    "hadn't": "had not", "couldn't": "could not", "couldnt": "could not", "shouldn't": "should not",
    "wouldn't": "would not", "wouldnt": "would not", "ain't": "is not",
    "i'm": "i am", "im": "i am", "i've": "i have", "ive": "i have", "i'll": "i will", "i'd": "i would",
    "you're": "you are", "youre": "you are", "you've": "you have", "you'll": "you will",
    "it's": "it is", "that's": "that is", "thats": "that is", "what's": "what is", "whats": "what is",
    "where's": "where is", "wheres": "where is", "when's": "when is", "how's": "how is",
    "who's": "who is", "there's": "there is", "let's": "let us", "we're": "we are", "they're": "they are",
}

SHORTHAND = {
    "pls": "please", "plz": "please", "plss": "please", "pleas": "please", "pl": "please",
    "u": "you", "ya": "you", "yu": "you", "ur": "your", "urs": "yours", "r": "are", "y": "why",
    "rn": "right now", "asap": "as soon as possible", "thx": "thanks", "thnx": "thanks", "thanx": "thanks",
    "tnx": "thanks", "ty": "thank you", "tysm": "thank you so much", "tks": "thanks",
    "wanna": "want to", "gonna": "going to", "gotta": "got to", "lemme": "let me", "gimme": "give me",
    "cuz": "because", "coz": "because", "bc": "because", "b4": "before", "idk": "i do not know",
    "msg": "message", "acct": "account", "acc": "account", "pw": "password", "pwd": "password",
    "addr": "address", "pkg": "package", "info": "information", "abt": "about", "w/": "with",
    "wat": "what", "wht": "what", "wut": "what", "hw": "how", "k": "ok", "kk": "ok", "okay": "ok",
    "okey": "ok", "yep": "yes", "yup": "yes", "yeah": "yes", "ya'll": "you all", "nope": "no", "nah": "no",
    "tmrw": "tomorrow", "tmr": "tomorrow", "2day": "today", "2morrow": "tomorrow", "dunno": "do not know",
    "smth": "something", "sth": "something", "sb": "somebody", "bday": "birthday", "ppl": "people",
    "hrs": "hours", "hr": "hour", "mins": "minutes", "min": "minute", "wk": "week", "nd": "and",
    "n": "and", "btw": "by the way", "tho": "though", "thru": "through", "ok.": "ok",
    "cx": "customer", "cs": "customer service", "amt": "amount", "qty": "quantity",
}

# Record numbers become placeholders the model can learn from.
RECORD_PATTERNS = [
    (re.compile(r"\b(?:ct)[\s\-#_]*\d{3,8}\b", re.I), " ordernumber "),
    (re.compile(r"\b(?:tt)[\s\-#_]*\d{3,8}\b", re.I), " purchasenumber "),
    (re.compile(r"\b(?:rf)[\s\-#_]*\d{3,8}\b", re.I), " refundnumber "),
    (re.compile(r"\b(?:wd)[\s\-#_]*\d{3,8}\b", re.I), " withdrawalnumber "),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), " emailaddress "),
    (re.compile(r"#\s?\d{4,8}\b"), " recordnumber "),
    (re.compile(r"\$\s?\d[\d,]*(?:\.\d+)?|\b\d[\d,]*(?:\.\d+)?\s?(?:usd|dollars?)\b", re.I), " moneyamount "),
]

_TOKEN = re.compile(r"[a-z0-9]+")


def normalize(text: str) -> str:
    """Lower-case words separated by single spaces, shorthand expanded."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("’", "'").replace("‘", "'").replace("`", "'")
    for pattern, placeholder in RECORD_PATTERNS:
        text = pattern.sub(placeholder, text)
    words = []
    for raw in re.findall(r"[a-z0-9']+|/", text):
        word = raw.strip("'")
        if not word:
            continue
        expanded = CONTRACTIONS.get(word) or SHORTHAND.get(word)
        if expanded is None and word.endswith("'s"):
            expanded = word[:-2]
        words.append(expanded or word.replace("'", ""))
    return " ".join(" ".join(words).split())


def tokens(normalized: str) -> list[str]:
    return _TOKEN.findall(normalized)
