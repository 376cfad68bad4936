"""How agents ask: question templates of the demo training data, in independent families.

Only text lives here; demo/dataset/asks.py fills the templates with CRM records. Each intent
has several families written in different voices (plain, terse agent shorthand, long
multi-clause asks with a reason, polite requests), so the tune learns the ask rather than one
sentence frame; `voice` then applies case, punctuation and typos as people type them. The
context of a row never depends on how its question is phrased.
"""

import random
import re

NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}

# ------------------------------------------------------------------ search

SEARCH = [
    [  # plain
        "anything {beds} in {city} {price}?",
        "{beds} homes in {city} {price}",
        "show me {beds} listings in {city} {price}",
        "Do you have any {beds} houses in {city} {price}?",
        "what {beds} places are on the market in {city} {price}?",
        "search {city} for {beds} homes {price}",
        "find me a {beds} in {city} {price}",
    ],
    [  # terse shorthand
        "{city} {beds} {price}",
        "{beds} / {city} / {price}",
        "{price} {beds} {city}?",
        "inventory check: {city}, {beds}, {price}",
        "{beds} {city} {price} - what's out there",
        "active {beds} {city} {price}",
    ],
    [  # long, with a reason
        "I have clients relocating to {city} next month, they need a {beds} and want to stay"
        " {price}. what's active?",
        "my buyers just got pre-approved and want something {beds} in {city}, budget {price},"
        " can you pull what we have",
        "Working with a young family: they need at least the space of a {beds}, {city} only,"
        " {price}. Options?",
        "first-time buyers, {city}, {beds}, and they really can't go {price} - anything on the"
        " market?",
        "so the Hendersons changed their minds again, now it's {city} and a {beds} {price},"
        " what do we have",
    ],
    [  # polite request
        "Could you pull up active {beds} listings in {city} {price}, please?",
        "Please find {beds} properties in {city} {price}.",
        "Would you check what {beds} homes are listed in {city} {price}?",
        "Can you look for {beds} places in {city} {price} for me?",
    ],
]
SEARCH_NO_BEDS = [
    [
        "what's active in {city} {price}?",
        "homes in {city} {price}",
        "anything on the market in {city} {price}?",
    ],
    ["{city} {price}", "{city} listings {price}?", "{price} in {city}, go"],
    ["a client wants to move to {city} and keep it {price}. what's listed?"],
]
MAX_PRICE = ["under {m}", "below {m}", "max {m}", "up to {m}", "less than {m}", "sub {m}",
             "<{m}", "{m} max", "no more than {m}", "{m} or less", "budget {m}"]  # fmt: skip
MIN_PRICE = ["over {m}", "above {m}", "at least {m}", "{m}+", "from {m} up"]
BETWEEN = ["between {lo} and {hi}", "{lo}-{hi}", "{lo} to {hi}", "in the {lo}-{hi} range"]
# A search that found nothing: the answer says so in prose.

# ------------------------------------------------------------------ one listing

ABOUT = [
    ["tell me about {ref}", "what do we know about {ref}?", "details on {ref}",
     "pull up {ref}", "show me {ref}"],
    ["{ref}?", "{ref} details", "info {ref}", "{ref} - specs?", "card for {ref}"],
    ["a buyer just drove past {ref} and wants the basics: price, beds, all that",
     "before my call with the seller I need the listing for {ref} in front of me",
     "can you bring up {ref}, I want to double check the square footage and price"],
    ["Could you show me the listing for {ref}, please?", "Would you pull up {ref} for me?"],
]  # fmt: skip

SHOWING = [
    ["can I see {ref}?", "when can we tour {ref}?", "any showing times for {ref}?",
     "what showing slots are open at {ref}?", "when's {ref} open for a showing?"],
    ["showings {ref}?", "{ref} tour times", "slots for {ref}", "{ref} - when can we get in"],
    ["my clients want to walk through {ref} this week, what times are open?",
     "the buyers loved the photos of {ref} and want to see it in person, when can we go?",
     "I'd like to book a showing at {ref}, what's available?"],
    ["Could we arrange a viewing of {ref}?", "Please check when {ref} can be shown.",
     "Would you find a time to show {ref}?"],
]  # fmt: skip
SHOWING_TWO = [
    "can we see {ref} and {ref2}?",
    "showing times for {ref} and {ref2}",
    "my buyers want to tour both {ref} and {ref2}, when can we go?",
    "{ref} + {ref2} - open slots?",
]

COMPS = [
    ["what should we list {ref} at?", "comps for {ref}", "what's {ref} worth?",
     "any recent sales near {ref}?", "need a price estimate for {ref}"],
    ["comps {ref}", "{ref} cma", "{ref} - value?", "sold comps near {ref}"],
    ["the seller at {ref} thinks it's worth a fortune, what have similar homes actually sold for?",
     "I'm meeting the owners of {ref} tomorrow for a listing presentation and need recent sales",
     "is {ref} priced right? pull what sold nearby"],
    ["Can you run a valuation on {ref}?", "Please pull comparable sales for {ref}."],
]  # fmt: skip

MORTGAGE_LISTING = [
    ["what would the payment be on {ref}{terms}?", "monthly payment for {ref}{terms}",
     "what's the mortgage on {ref}{terms}?"],
    ["pmt on {ref}{terms}?", "{ref} monthly{terms}", "piti-ish for {ref}{terms}?"],
    ["if my clients go for {ref}{terms}, what are they looking at per month?",
     "buyers want to know if {ref} fits their monthly budget{terms}, can you run it"],
    ["Could you estimate the monthly payment on {ref}{terms}?"],
]  # fmt: skip
MORTGAGE_PRICE = [
    ["payment on {price}{terms}?", "what's the monthly on a {price} house{terms}?",
     "mortgage estimate for {price}{terms}"],
    ["{price}{terms} - monthly?", "pmt {price}{terms}", "monthly @ {price}{terms}"],
    ["clients are looking at homes around {price}{terms}, what would the payment be?"],
    ["Can you estimate the payment for a {price} purchase{terms}?"],
]  # fmt: skip

# ------------------------------------------------------------------ people

ROLE_ON_LISTING = [
    ["who's the {role} on {ref}?", "how do I reach the {role} for {ref}?",
     "contact for the {role} of {ref}?"],
    ["{role} for {ref}?", "{ref} {role}", "{role} contact {ref}"],
    ["I need to talk to the {role} on {ref} before the deadline, who is it and how do I reach"
     " them?",
     "the appraisal came back low on {ref}, get me the {role}"],
    ["Could you give me the {role}'s details for {ref}?"],
]  # fmt: skip
BUYERS_ON_LISTING = [
    "who are the buyers on {ref}?", "which buyers are interested in {ref}?", "buyers {ref}?",
    "who's interested in {ref}? need to call them", "Could you list the buyers for {ref}?",
]  # fmt: skip
PERSON = [
    ["what's {name}'s number?", "how do I reach {name}?", "contact info for {name}"],
    ["{name}?", "{name} contact", "{name} phone"],
    ["I have to call {name} back about the inspection, can you pull them up"],
    ["Could you find {name}'s details, please?", "Who is {name}?"],
]  # fmt: skip
ROLE_PEOPLE = [
    ["who's a {role} I could contact?", "{role} contacts please", "which {role}s do we work with?"],
    ["{role}s?", "list {role}s", "need a {role}"],
    ["my buyers need a {role} this week and asked for a recommendation, who do we have?"],
]  # fmt: skip

# ------------------------------------------------------------------ actions

BOOK_AT = [
    ["book {ref} for {when}", "book a showing at {ref} on {when}", "grab the {when} slot at {ref}"],
    ["{ref} {when} - book it", "book {when} {ref}", "lock {ref} {when}"],
    ["the buyers can make {when}, please put us down for a showing at {ref}",
     "go ahead and reserve {when} at {ref}, my clients confirmed"],
    ["Please book the {when} showing at {ref}.", "Could you book {ref} for {when}?"],
]  # fmt: skip
STATUS = [
    ["mark {ref} as {status}", "set {ref} to {status}", "change {ref} to {status}"],
    ["{ref} -> {status}", "{ref} {status} now", "status {ref}: {status}"],
    ["we just got word that {ref} is {status}, please update the listing",
     "the deal on {ref} moved, it should be {status} now, fix the status"],
    ["Please set the status of {ref} to {status}."],
]  # fmt: skip
EMAIL_TOPICS = [
    "price drop", "new photos", "open house", "offer deadline", "inspection report",
    "appraisal", "closing date", "HOA documents", "counteroffer", "disclosures",
]  # fmt: skip
EMAIL_ROLE = [
    ["email the {role} of {ref} about the {topic}",
     "send the {role} on {ref} an email about the {topic}"],
    ["email {role} {ref} re {topic}", "{ref} {role}: email about {topic}"],
    ["can you let the {role} on {ref} know about the {topic}? an email is fine"],
    ["Please email the {role} for {ref} regarding the {topic}."],
]  # fmt: skip
EMAIL_PERSON = [
    ["email {name} about the {topic}", "send {name} a note about the {topic}"],
    ["email {name} re {topic}", "{name}: email, {topic}"],
    ["{name} keeps asking about the {topic}, shoot them an email"],
    ["Could you email {name} regarding the {topic}?"],
]  # fmt: skip
TASKS = [
    "order the appraisal", "confirm the closing date with title", "chase the HOA documents",
    "confirm the movers", "check on the underwriting status", "collect the signed disclosures",
    "request the survey", "confirm the earnest money deposit", "follow up on the repair list",
    "prepare the offer paperwork", "schedule the home inspection", "collect the pay stubs",
    "plan the final walk-through", "renew the listing agreement", "order the yard sign",
    "order the title search", "update the MLS photos", "review the inspection report",
]  # fmt: skip
TASK = [
    ["remind me to {task}{due}", "add a task to {task}{due}", "create a task: {task}{due}"],
    ["task: {task}{due}", "todo {task}{due}", "{task}{due} - add to my list"],
    ["I keep forgetting to {task}, put it on my list{due}"],
    ["Please create a task to {task}{due}."],
]  # fmt: skip
TASK_LISTING = [
    ["remind me to {task} for {ref}{due}", "add a task for {ref}: {task}{due}"],
    ["task {ref}: {task}{due}", "{ref} todo - {task}{due}"],
    ["for {ref} I still need to {task}, make it a task{due}"],
]  # fmt: skip

# ------------------------------------------------------------------ several in one message

JOIN = [" and ", ", and also ", ". also ", " + ", ", then "]
# Second halves, referring back to the listing of the first half.
THEN_ABOUT = ["show me the listing", "pull up the listing", "the listing details"]
THEN_SHOWING = ["when can we see it", "what showing times are open", "its open slots"]
THEN_ROLE = ["who's the {role}", "the {role}'s contact", "how do I reach the {role}"]
THEN_PAYMENT = ["what's the payment{terms}", "the monthly{terms}", "run the mortgage{terms}"]
THEN_COMPS = ["pull comps", "what have similar homes sold for", "recent sales nearby"]

# ------------------------------------------------------------------ follow-ups (2nd turn)

IT_ONE = ["that one", "it", "this one", "that house", "that place"]
ORDINAL_REFS = {0: ["the first one", "the top one", "#1"], 1: ["the second one", "the 2nd one"],
                2: ["the third one", "the 3rd one"], -1: ["the last one"]}  # fmt: skip
OPENERS = ["", "", "", "ok, ", "nice. ", "great, ", "thanks! ", "hmm, ", "perfect. ", "cool - "]
FOLLOW_ABOUT = ["tell me more about {it}", "details on {it}?", "show me {it} again"]
FOLLOW_SHOWING = ["can we see {it}?", "when can we tour {it}?", "showing times for {it}?"]
FOLLOW_ROLE = ["who's the {role} on {it}?", "{role} for {it}?", "get me the {role} on {it}"]
FOLLOW_PAYMENT = ["what would the payment be on {it}{terms}?", "monthly on {it}{terms}?"]
FOLLOW_COMPS = ["comps for {it}?", "is {it} priced right?", "what's {it} worth?"]
FOLLOW_BOOK = ["book {it} for {when}", "grab {when} for {it}", "put us down for {when} at {it}"]
FOLLOW_STATUS = ["mark {it} as {status}", "{it} went {status}, update it"]
FOLLOW_THANKS = ["thanks", "great, thanks!", "perfect", "ok cool", "got it, thank you"]

# ------------------------------------------------------------------ prose only

DEFINITIONS = {
    "escrow": "Escrow is a neutral third party holding the deposit and documents until every "
    "condition of the sale is met.",
    "a contingency": "A contingency is a condition in the contract, like financing or "
    "inspection, that must be met or the buyer can walk away.",
    "pre-approval": "A pre-approval is a lender's written estimate of how much a buyer can "
    "borrow, based on checked income and credit.",
    "closing costs": "Closing costs are the fees paid at closing on top of the price: lender "
    "fees, title insurance, taxes and recording fees.",
    "earnest money": "Earnest money is the deposit a buyer puts down with an offer to show "
    "good faith; it is held in escrow.",
    "an appraisal": "An appraisal is a licensed appraiser's estimate of a home's value, "
    "which the lender uses to size the loan.",
    "an HOA": "An HOA is a homeowners association: it sets community rules and collects dues "
    "for shared upkeep.",
    "title insurance": "Title insurance protects the buyer and lender against ownership "
    "claims that surface after closing.",
    "a due diligence period": "The due diligence period is the window after an accepted "
    "offer when the buyer inspects and can cancel.",
    "PMI": "PMI is private mortgage insurance; lenders usually require it when the down "
    "payment is small.",
    "a seller concession": "A seller concession is money the seller agrees to put toward the "
    "buyer's closing costs.",
    "a CMA": "A CMA, or comparative market analysis, estimates a home's price from recent "
    "sales of similar homes nearby.",
    "dual agency": "Dual agency is when one agent represents both the buyer and the seller in "
    "the same sale.",
}
DEFINE = [
    ["what does {term} mean?", "what's {term}?", "what is {term} again?"],
    ["{term}?", "define {term}", "eli5 {term}"],
    ["a first-time buyer asked me about {term} and I want a simple way to put it"],
    ["Could you explain {term} in plain words?"],
]
SMALL_TALK = {
    "hi": "Hi! Ask me about listings, showings, comps, payments or contacts.",
    "hello there": "Hello! What can I pull from the CRM for you?",
    "good morning!": "Good morning! What are we working on today?",
    "thanks, that's helpful": "Glad it helped. Anything else?",
    "thank you!": "You're welcome!",
    "what can you do?": "I can search listings, offer showing times, pull comps, estimate "
    "payments, find contacts and set up CRM tasks and emails.",
    "how do you work?": "Ask in plain words; I look up the CRM records and show them as cards.",
    "are you a bot?": "Yes, I'm the CRM assistant. I answer from the records in the CRM.",
    "never mind": "No problem. I'm here when you need me.",
    "help": "Ask for homes by city, beds and budget, or for the agent on a listing.",
    "hey": "Hey! What do you need from the CRM?",
    "cheers": "Cheers! Anything else?",
    "nope, that's all": "Okay. Have a good one!",
    "bye": "Bye! Good luck with your clients.",
    "who are you?": "I'm the CRM assistant: I answer from the listings, sales and contacts "
    "in the CRM.",
    "who am I talking to?": "The CRM assistant. Ask me about listings, showings or contacts.",
    "are you a real person?": "No, I'm the CRM assistant. I answer from the CRM's records.",
    "can you help me?": "Yes. Ask for homes, showing times, comps, payments or contacts.",
    "is the market hot right now?": "I can't judge the market, but I can pull recent sales "
    "near an address.",
    "tell me a joke": "I stick to real estate, but I can pull up listings any time.",
    "what's the weather like?": "I can't check the weather; I only know what's in the CRM.",
    "can you write a listing description for me?": "I can't write listing copy, but I can "
    "pull up the listing's details for you to work from.",
    "what time is it in Denver?": "I can't tell the time; I only know what's in the CRM.",
    "do you know a good lunch spot?": "I only know the CRM's records, so no lunch tips, sorry.",
}
# Asks about a listing that want a judgement, not a record: prose, no card, no action.
OPINION = [
    "should my buyers offer on {ref}?",
    "is {ref} a good investment?",
    "do you think {ref} will sell fast?",
    "would you list {ref} higher or lower?",
]

# ------------------------------------------------------------------ voice

TYPOS = {
    "anything": ["anythign", "anyting"], "listings": ["listigns", "lisitngs"],
    "homes": ["hoems", "homse"], "please": ["pls", "plz", "pleas"], "looking": ["lookin"],
    "houses": ["housse", "hosues"], "what's": ["whats", "wats"], "options": ["optoins"],
    "market": ["markt"], "showing": ["shwoing", "showign"], "payment": ["paymnet", "pymt"],
    "monthly": ["montly"], "contact": ["contcat"], "available": ["availble"],
    "buyers": ["buyres"], "listing": ["lisitng"], "mortgage": ["morgage", "mortage"],
    "schedule": ["schedual"], "email": ["emial"], "remind": ["remnd"], "about": ["abt"],
    "tomorrow": ["tmrw"], "know": ["kno"], "thanks": ["thx", "tks"], "with": ["w/"],
}  # fmt: skip
_PUNCTUATION = re.compile(r"[?.!]+$")


def voice(rng: random.Random, text: str) -> str:
    """The question as someone types it: a typo now and then, all lower case or a capital,
    sometimes no closing punctuation."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if w.strip("?,.!:").lower() in TYPOS]
    if candidates and rng.random() < 0.35:
        i = rng.choice(candidates)
        bare = words[i].strip("?,.!:")
        words[i] = words[i].replace(bare, rng.choice(TYPOS[bare.lower()]))
    text = " ".join(words)
    roll = rng.random()
    if roll < 0.2:
        text = text.lower()
    elif roll < 0.5:
        text = text[0].upper() + text[1:]
    if rng.random() < 0.2:
        text = _PUNCTUATION.sub("", text)
    return text


def pick(rng: random.Random, families: list) -> str:
    """A template: a family first, then one of its templates, so no family dominates."""
    family = rng.choice(families)
    return rng.choice(family) if isinstance(family, list) else family


def beds_phrase(rng: random.Random, beds: int, at_least: bool) -> str:
    word = NUMBER_WORDS[beds]
    if at_least:
        return rng.choice(
            [
                f"{beds}+ bed",
                f"{beds}+ bedroom",
                f"{beds}+ br",
                f"{beds}+bd",
                f"{beds} or more beds",
                f"at least {beds} beds",
            ]
        )
    return rng.choice(
        [
            f"{beds} bed", f"{beds}-bed", f"{beds} bedroom", f"{word} bedroom", f"{word}-bedroom",
            f"{beds}br", f"{beds} br", f"{beds}bd", f"{beds} bd", f"{word} bed", f"{beds}/2",
        ]
    )  # fmt: skip


def money(rng: random.Random, amount: int) -> str:
    """A dollar amount as agents type it: 500k, $500,000, 1.2m, $1.25M, 1.2 million."""
    if amount >= 1_000_000:
        short = f"{amount / 1_000_000:g}"
        return rng.choice([f"{short}m", f"${short}m", f"${short}M", f"${amount:,}",
                           f"{short} million"])  # fmt: skip
    short = f"{amount // 1000}"
    return rng.choice([f"{short}k", f"${short}k", f"${amount:,}", f"{short}K", f"{short}"])
