"""How agents ask: the question templates and phrase pools of the demo training data.

Only text lives here; demo_makers.py fills the templates with CRM records and checks that
crm/questions.py reads each filled question the way the template meant. Templates avoid the
words that switch on another intent in crm/questions.py (see, view, send, book, call, email,
number, worth...) unless that intent is the point.
"""

import random

NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}

# ------------------------------------------------------------------ search

SEARCH_MANY = [
    "anything {beds} in {city} {price}?",
    "{beds} homes in {city} {price}",
    "show me {beds} listings in {city} {price}",
    "looking for a {beds} in {city}, {price}",
    "Do you have any {beds} houses in {city} {price}?",
    "my clients want a {beds} in {city} {price}. what's active?",
    "{city}, {beds}, {price}",
    "Could you pull up active {beds} listings in {city} {price}, please?",
    "need {beds} options in {city} {price}",
    "what {beds} places are on the market in {city} {price}?",
    "{price}, {beds}, {city}: what have we got?",
    "Please find {beds} properties in {city} {price}.",
    "any {beds} houses {price} in {city}",
    "hey, got any {beds} in {city} {price}?",
    "I have clients relocating to {city}: {beds}, {price}. Options?",
    "search {city} for {beds} homes {price}",
]
# The user asks for one: the reply shows one card, so a follow-up's "that one" is clear.
SEARCH_ONE = [
    "what's the best {beds} in {city} {price}?",
    "give me one {beds} option in {city} {price}",
    "your top pick for a {beds} in {city} {price}?",
    "just one {beds} in {city} {price}, the best fit",
    "single best {beds} listing in {city} {price}?",
    "If you had to pick one {beds} in {city} {price}, which?",
]
# Filters left out of a template are simply dropped (and the words around them).
SEARCH_NO_PRICE = [
    "{beds} homes in {city}?",
    "any {beds} listings in {city}",
    "show me {beds} houses in {city}",
    "what {beds} places are active in {city}?",
    "{beds} in {city}, anything?",
]
SEARCH_CITY_ONLY = [
    "what's active in {city} {price}?",
    "homes in {city} {price}",
    "anything on the market in {city} {price}?",
    "listings in {city} {price} please",
]

# Not "no more than": crm/questions.py also reads its "more than" as a minimum price.
MAX_PRICE_WORDS = ["under", "below", "max", "up to", "less than"]
MIN_PRICE_WORDS = ["over", "above", "at least"]

# Words a sloppy typist gets wrong; none of them carries a filter.
TYPOS = {
    "anything": "anythign",
    "listings": "listigns",
    "homes": "hoems",
    "please": "pls",
    "looking": "lookin",
    "houses": "housse",
    "what's": "whats",
    "options": "optoins",
    "market": "markt",
}


def with_typo(rng: random.Random, text: str) -> str:
    """One misspelt word, sometimes; filter words are never touched."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if w.strip("?,.!:").lower() in TYPOS]
    if not candidates or rng.random() > 0.35:
        return text
    i = rng.choice(candidates)
    bare = words[i].strip("?,.!:")
    words[i] = words[i].replace(bare, TYPOS[bare.lower()])
    return " ".join(words)


def beds_phrase(rng: random.Random, beds: int, at_least: bool) -> str:
    word = NUMBER_WORDS[beds]
    if at_least:
        return rng.choice([f"{beds}+ bed", f"{beds}+ bedroom", f"{beds}+ br", f"{beds}+ bd"])
    return rng.choice(
        [
            f"{beds} bed", f"{beds}-bed", f"{beds} bedroom", f"{word} bedroom", f"{word}-bedroom",
            f"{beds}br", f"{beds} br", f"{beds}bd", f"{beds} bd", f"{word} bed",
        ]
    )  # fmt: skip


def money(rng: random.Random, amount: int, *, words: bool = True) -> str:
    """A dollar amount as agents type it: 500k, $500,000, 1.2m, $1.25M, 1.2 million.

    words=False leaves out "1.2 million": crm/questions.py reads it as a search budget but
    not as a mortgage price.
    """
    if amount >= 1_000_000:
        short = f"{amount / 1_000_000:g}"
        forms = [f"{short}m", f"${short}m", f"${short}M", f"${amount:,}"]
        return rng.choice(forms + ([f"{short} million"] if words else []))
    short = f"{amount // 1000}"
    return rng.choice([f"{short}k", f"${short}k", f"${amount:,}", f"{short}K"])


def max_price_phrase(rng: random.Random, amount: int) -> str:
    return f"{rng.choice(MAX_PRICE_WORDS)} {money(rng, amount)}"


def min_price_phrase(rng: random.Random, amount: int) -> str:
    return f"{rng.choice(MIN_PRICE_WORDS)} {money(rng, amount)}"


def between_phrase(rng: random.Random, low: int, high: int) -> str:
    joiner = rng.choice([" and ", " to ", "-"])
    return f"between {money(rng, low)}{joiner}{money(rng, high)}"


# ------------------------------------------------------------------ single listing asks

SHOWING = [
    "can I see {ref}?",
    "when can we tour {ref}?",
    "any showing times for {ref}?",
    "I'd like to visit {ref} this week",
    "tour times for {ref}?",
    "what showing slots are open at {ref}?",
    "my clients want to walk through {ref}. what's open?",
    "showing availability at {ref} pls",
    "Could we arrange a viewing of {ref}?",
    "tour {ref}?",
    "is there a time to see {ref} soon?",
    "when's {ref} open for a showing?",
]
COMPS = [
    "what should we list {ref} at?",
    "comps for {ref}",
    "pull comparables for {ref}",
    "what's {ref} worth?",
    "any recent sales near {ref}? need comps",
    "need a price estimate for {ref}",
    "Can you run a valuation on {ref}?",
    "comparable sales around {ref} please",
    "what have homes like {ref} sold for? comps pls",
    "help me value {ref}",
    "is {ref} priced right? run comps",
    "anything recently sold near {ref}?",
    "a valuation for {ref}, please",
    "comps on {ref}?",
]
MORTGAGE_LISTING = [
    "what would the payment be on {ref}{terms}?",
    "monthly payment for {ref}{terms}",
    "mortgage estimate on {ref}{terms}",
    "If my clients get {ref}{terms}, what's the monthly?",
    "run the payment on {ref}{terms}",
    "what's the mortgage on {ref}{terms}?",
]
MORTGAGE_PRICE = [
    "payment on {price}{terms}?",
    "what's the monthly on a {price} house{terms}?",
    "mortgage estimate for {price}{terms}",
    "Can you estimate the payment for a {price} purchase{terms}?",
    "monthly payment, {price}{terms}",
    "clients are looking at {price}{terms}. payment?",
]
AGENT = [
    "who's the listing agent for {ref}?",
    "who is the agent on {ref}?",
    "listing agent contact for {ref}",
    "how do I reach the agent for {ref}?",
    "who do I contact about {ref}? the agent",
    "agent for {ref}?",
]
SELLER = [
    "who's the seller at {ref}?",
    "contact for the seller of {ref}?",
    "how do I reach the seller on {ref}?",
]
BUYERS = [
    "who are the buyers on {ref}?",
    "which buyers are interested in {ref}? contacts please",
    "buyers for {ref}?",
]
PERSON = [
    "what's {name}'s number?",
    "how do I reach {name}?",
    "contact info for {name}",
    "I need to reach {name}",
    "Who is {name}?",
    "pull up {name}'s contact",
]
ROLE_PEOPLE = {
    "lender": [
        "who's a lender I could contact?",
        "my buyers need a lender. who do we have?",
        "lender contacts please",
        "any lenders in the CRM?",
    ],
    "inspector": [
        "who's an inspector we can contact?",
        "need an inspector for a client",
        "inspector contacts?",
        "which inspectors do we work with?",
    ],
}

# ------------------------------------------------------------------ actions

BOOK = [
    "book the earliest showing at {ref}",
    "book a showing for {ref}, first available",
    "go ahead and book {ref}, soonest slot",
    "pls book the first open slot at {ref}",
    "Book {ref} for my clients, earliest time",
    "grab the next available showing at {ref}",
    "schedule us into the first open slot at {ref}",
    "book me in at {ref}, whenever is soonest",
    "reserve the earliest tour of {ref}",
    "Please book the next showing at {ref}.",
    "lock in the first showing slot for {ref}",
    "book it: {ref}, earliest opening",
    "can you book the soonest showing at {ref}?",
    "set up a showing at {ref} for the first open time",
    "book the first available tour at {ref} pls",
]
STATUS = [
    "mark {ref} as {status}",
    "set {ref} to {status}",
    "change {ref} to {status}",
    "update: mark {ref} as {status}",
    "Please set the status of {ref} to {status}.",
    "{ref} is {status} now, update it",
    "flip {ref} to {status}",
    "can you mark {ref} {status}?",
    "status change: {ref} -> {status}",
    "{ref} went {status}, please update the listing",
    "switch {ref} over to {status}",
]
EMAIL_TOPICS = [
    "price drop", "new photos", "open house", "offer deadline", "inspection report",
    "appraisal", "closing date", "HOA documents", "counteroffer", "disclosures",
]  # fmt: skip
EMAIL_BUYERS = [
    "email the buyers on {ref} about the {topic}",
    "let the buyers of {ref} know about the {topic} by email",
    "shoot the {ref} buyers an email re the {topic}",
    "send the buyers on {ref} an email about the {topic}",
    "can you email the {ref} buyers about the {topic}?",
]
EMAIL_SELLER = [
    "email the seller of {ref} about the {topic}",
    "write the seller at {ref} an email about the {topic}",
    "send the seller of {ref} an email re the {topic}",
    "let the seller at {ref} know about the {topic} by email",
]
EMAIL_PERSON = [
    "email {name} about the {topic}",
    "send {name} a note about the {topic}",
    "drop {name} an email re: the {topic}",
    "can you email {name} about the {topic}?",
    "write {name} an email about the {topic}",
    "please send {name} an email on the {topic}",
]
TASKS = [
    "order the appraisal", "confirm the closing date with title", "chase the HOA documents",
    "confirm the movers", "check on the underwriting status", "collect the signed disclosures",
    "request the survey", "confirm the earnest money deposit", "follow up on the repair list",
    "prepare the offer paperwork", "schedule the home inspection", "collect the pay stubs",
    "plan the final walk-through", "renew the listing agreement", "order the yard sign",
    "order the title search", "update the MLS photos", "review the inspection report",
]  # fmt: skip
TASK_PLAIN = [
    "remind me to {task}",
    "add a task: {task}",
    "create a task to {task}",
    "make a task to {task}",
    "new task: {task}",
    "put {task} on my to-do list",
    "can you add a task to {task}?",
]
TASK_DUE = [
    "remind me to {task} by {due}",
    "add a task to {task}, due {due}",
    "create a task: {task} by {due}",
    "remind me by {due} to {task}",
    "new task, due {due}: {task}",
    "please {task} by {due}, add it as a task",
    "task: {task}, deadline {due}",
    "I need to {task} by {due}, remind me",
    "add a to-do due {due}: {task}",
]
TASK_LISTING = [
    "remind me to {task} for {ref}",
    "add a task for {ref}: {task}",
    "create a task to {task} for {ref} by {due}",
    "new task for {ref}: {task}",
    "add to my list for {ref}: {task}",
    "remind me to {task} for {ref} by {due}",
    "task for {ref}, due {due}: {task}",
]

# ------------------------------------------------------------------ several widgets

LISTING_AND_AGENT = [
    "pull up {ref} and the listing agent",
    "show me {ref} and who the agent is",
    "details on {ref}, plus the agent's contact",
    "{ref}: the details and the listing agent please",
]
LISTING_AND_PAYMENT = [
    "show me {ref} and the payment{terms}",
    "details on {ref} plus the monthly{terms}",
    "pull up {ref} with a mortgage estimate{terms}",
    "{ref}: details and payment{terms}",
]
LISTING_AND_TOUR = [
    "tell me about {ref} and when we can tour it",
    "details for {ref} plus showing times",
    "pull up {ref} and its open showing slots",
    "show me {ref} and when it's open for a tour",
]

# ------------------------------------------------------------------ follow-ups (2nd turn)

IT_ONE = ["that one", "it", "this one", "that house", "that place"]
IT_FIRST = ["the first one", "the top one", "the first listing"]
OPENERS = ["", "", "ok, ", "nice. ", "great, ", "thanks! ", "hmm, ", "perfect. "]
FOLLOW_SHOWING = [
    "can I see {it}?",
    "can we tour {it}?",
    "any showing times for {it}?",
    "when could my buyers visit {it}?",
    "what slots are open to see {it}?",
    "I'd like to tour {it}",
]
FOLLOW_MORTGAGE = [
    "what would the payment be on {it}{terms}?",
    "monthly on {it}{terms}?",
    "run a mortgage estimate on {it}{terms}",
    "what's the payment for {it}{terms}?",
    "monthly payment on {it}{terms}?",
    "estimate the mortgage on {it}{terms}",
    "what's the monthly for {it}{terms}?",
]
FOLLOW_AGENT = [
    "who's the agent on {it}?",
    "who's the listing agent for {it}?",
    "agent contact for {it}?",
    "who's the agent for {it}? need their number",
    "get me the agent on {it}",
]
FOLLOW_COMPS = [
    "what are the comps for {it}?",
    "is {it} priced right? pull comps",
    "recent sales near {it}? comps please",
    "what's {it} worth?",
    "what's recently sold near {it}?",
]
FOLLOW_BOOK = [
    "book the earliest showing for {it}",
    "book {it}, first available slot",
    "go ahead and book the earliest tour of {it}",
    "schedule the first open showing for {it}",
]
FOLLOW_STATUS = [
    "mark {it} as pending",
    "set {it} to pending",
    "{it} went pending, update it",
    "change {it} to pending please",
]

# ------------------------------------------------------------------ small talk, definitions

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
    "a cash-out refinance": "A cash-out refinance replaces a loan with a larger one and pays "
    "the owner the difference in cash.",
    "PMI": "PMI is private mortgage insurance; lenders usually require it when the down "
    "payment is small.",
    "a seller concession": "A seller concession is money the seller agrees to put toward the "
    "buyer's closing costs.",
}
DEFINE = [
    "what does {term} mean?",
    "what's {term}?",
    "explain {term} quickly",
    "can you define {term} for a first-time client?",
    "quick q: {term}?",
    "what is {term} again?",
    "What is {term}, in plain words?",
    "eli5 {term}",
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
    "ok cool": "Great. Let me know what you need next.",
    "never mind": "No problem. I'm here when you need me.",
    "what's up?": "Ready when you are. Want to search listings or check showings?",
    "help": "Ask for homes by city, beds and budget, or for the agent on a listing.",
    "hey": "Hey! What do you need from the CRM?",
    "good afternoon": "Good afternoon! What can I look up for you?",
    "thanks a lot": "Anytime!",
    "cheers": "Cheers! Anything else?",
    "perfect, thank you": "You're welcome. Anything else?",
    "great job": "Thanks! Let me know what you need next.",
    "got it": "Great. I'm here if you need anything else.",
    "sounds good": "Great. Just ask when you're ready.",
    "nope, that's all": "Okay. Have a good one!",
    "that's it for now": "Okay. Have a good one!",
    "bye": "Bye! Good luck with your clients.",
    "who are you?": "I'm the CRM assistant: I answer from the listings, sales and contacts "
    "in the CRM.",
    # Questions about the assistant itself: "who" also opens contact asks, and a tune with
    # one such phrasing answered "Who are you?" with a contact card.
    "who am I talking to?": "The CRM assistant. Ask me about listings, showings or contacts.",
    "what are you?": "An assistant for this CRM: I look up listings, sales and contacts.",
    "what's your name?": "I'm the CRM assistant. What can I look up for you?",
    "who made you?": "I'm the assistant built into this CRM.",
    "are you a real person?": "No, I'm the CRM assistant. I answer from the CRM's records.",
    "who is this?": "This is the CRM assistant. What do you need?",
    "tell me about yourself": "I'm the CRM assistant: I search listings, offer showing "
    "times, pull comps, estimate payments and find contacts.",
    "can you help me?": "Yes. Ask for homes, showing times, comps, payments or contacts.",
    "what should I ask you?": "Try a search like homes by city, beds and budget, or ask for "
    "comps on an address.",
    "sorry, wrong chat": "No problem!",
    "lol": "Ha! What else can I do for you?",
    "how's it going?": "All good here. What are we working on?",
    "is the market hot right now?": "I can't judge the market, but I can pull recent sales "
    "near an address.",
    "tell me a joke": "I stick to real estate, but I can pull up listings any time.",
    "what's the weather like?": "I can't check the weather; I only know what's in the CRM.",
}
