"""The cue lexicon: what a caller says when a person must take over.

Patterns are regex sources written in lower case and natural spelling; they are
folded like the utterance (see ``text.fold``) before compiling, so umlauts,
their ASCII spellings and ASR's umlaut-less spellings all match. Conventions:

- ``\\w*`` after a stem covers inflection (``bewusstlos\\w*``), ``\\w*`` before
  it covers German compounds whose *head* is the cue (``\\w*schlaganfall``);
  a compound whose head is something else (``Notfallsprechstunde``) does not
  match a word-bounded cue (``\\bnotfall\\b``).
- Weights are the cue's strength on its own; a label fires at 0.5 combined,
  so weak cues (< 0.5) need a second cue.
- ``negatable=False`` for cues whose meaning contains the negation
  ("atmet nicht", "I don't want to talk to a machine").
- ``scan_inside=True`` for co-occurrence cues that may swallow a negator
  between their parts ("ich will *keinen* Menschen").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.escalation.results import Label
from appliance.escalation.text import fold_pattern


@dataclass(frozen=True)
class Cue:
    name: str
    label: Label
    pattern: re.Pattern[str]
    weight: float
    topic: str | None = None
    negatable: bool = True
    scan_inside: bool = False
    unless: re.Pattern[str] | None = None  # checked on the cue's sentence


@dataclass(frozen=True)
class Context:
    """A sentence-level modifier: cues of ``labels`` in a matching sentence are damped."""

    name: str
    labels: frozenset[Label]
    pattern: re.Pattern[str]
    factor: float


def compile_folded(source: str) -> re.Pattern[str]:
    return re.compile(fold_pattern(source))


def _alt(*parts: str) -> str:
    return "(?:" + "|".join(parts) + ")"


def _cue(
    name: str,
    label: Label,
    weight: float,
    *sources: str,
    topic: str | None = None,
    negatable: bool = True,
    scan_inside: bool = False,
    unless: str | None = None,
) -> Cue:
    return Cue(
        name=name,
        label=label,
        pattern=compile_folded(r"\b" + _alt(*sources)),
        weight=weight,
        topic=topic,
        negatable=negatable,
        scan_inside=scan_inside,
        unless=compile_folded(unless) if unless else None,
    )


# --- shared fragments ------------------------------------------------------

_PRON_EN = r"(?:my|his|her|the|our|their)"
_KIN_EN = (
    r"(?:husband|wife|mother|mom|mum|father|dad|son|daughter|child|kid|baby|partner|"
    r"brother|sister|grandma|grandmother|grandpa|grandfather|friend|neighbou?r|colleague)"
)
_KIN_DE = (
    r"(?:\w*mann|\w*frau|vater|mutter|papa|mama|sohn|tochter|kind|baby|partner\w*|bruder|"
    r"schwester|oma|opa|gro(?:ss)?vater|gro(?:ss)?mutter|nachbar\w*|freund\w*|kolleg\w*)"
)
_SUBJ_EN = rf"(?:he|she|hes|shes|they|{_KIN_EN})"
_SUBJ_DE = rf"(?:er|sie|{_KIN_DE})"
# Adverbs and fillers that callers put anywhere ("kann *plötzlich* den Arm nicht").
_ADV = (
    r"(?:(?:really|so|very|badly|suddenly|just|now|all of a sudden|plötzlich|ganz|sehr|"
    r"auf einmal|gerade|eben|total|richtig|wieder|noch|schon|jetzt|seit \w+) )*"
)
_CHILD_EN = r"(?:toddler|little one|little boy|little girl|grandson|granddaughter|boy|girl|kids?)"
_CHILD_DE = r"(?:kleine\w*|enkel\w*|junge|mädchen|kinder)"
_MEDS_EN = r"(?:pills|tablets|medication|medicine|meds|capsules|painkillers)"
_MEDS_DE = r"(?:\w*tabletten|pillen|medikament\w*|kapseln|schmerzmittel)"

# Nouns for a person to talk to.
_PERSON_EN = (
    r"(?:(?:a|an|the|some|your|real|actual|live|human|proper|another|one of|of)\s+)*"
    r"(?:(?:ward|duty|head|senior|bank|branch|account|hospital|on call|charge|practice|"
    r"relationship|customer service|billing)\s+)?"
    r"(?:person|human|human being|agent|representative|rep|operator|someone|somebody|anyone|"
    r"anybody|staff|staff member|employee|colleague|advisor|adviser|consultant|nurse|doctor|"
    r"receptionist|manager|supervisor|clerk|people|member of staff|banker|specialist|sister|"
    r"midwife|pharmacist|surgeon|physician|gp|matron|teller|cashier|staff member)s?\b"
)
_PERSON_DE = (
    r"(?:(?:einen|einem|einer|eine|nem|ner|den|dem|der|die|echten?|richtigen?|lebendigen?|"
    r"menschlichen?|zuständigen?|meinem|meiner|meinen|ihrem|ihrer|ihren|irgend)\s+)*"
    r"(?:mensch\w*|mitarbeiter\w*|\w*berater\w*|\w*betreuer\w*|\w*bearbeiter\w*|kolleg\w*|"
    r"person|jemand\w*|\w*arzt|\w*ärztin|doktor|\w*schwester|\w*pfleger\w*|\w*personal|vermittlung|"
    r"rezeption|chef\w*|vorgesetzt\w*|\w*leiter\w*|\w+leitung|sekretariat|"
    r"\w*pflegekr(?:aft|äfte)|"
    r"fachkr(?:aft|äfte)|verantwortliche\w*|zuständige\w*)\b"
)
_DEPT_EN = (
    r"(?:the |your |a )?(?:\w+ )?(?:department|ward|team|office|desk|unit|clinic|branch|"
    r"reception|switchboard)\b"
)
_DEPT_DE = (
    r"(?:der |die |das |dem |den |zur |zum |ihrer |ihre )?(?:\w+ )?(?:\w*abteilung|\w*station|"
    r"\w*büro|\w*stelle|\w*ambulanz|\w*praxis|\w*sekretariat|\w*filiale|\w*team|empfang|"
    r"rezeption|pforte|zentrale)\b"
)
_TALK_EN = (
    r"(?:speak|talk|chat|connect|transfer|put me through|put me on to|pass me|hand me|"
    r"get me|redirect|forward me|have a word|be put through|put in touch|get in touch)\w*"
)
_TALK_DE = (
    r"(?:sprechen|reden|verbinden|verbunden|durchstellen|durchgestellt|weiterleiten|"
    r"weitergeleitet|weiterverbinden|weiter verbinden|sprich|spreche|rede|zurückrufen)\b"
)
_WANT_EN = (
    r"(?:i want|i need|i would like|id like|can i have|may i have|get me|give me|can i get|"
    r"could i get|could i have|can i please have|could i please have|please get)\b"
)
_WANT_DE = (
    r"(?:will|möchte|möchten|hätte gerne?|brauche|bräuchte|wollte|würde gerne?|"
    r"geben sie mir|holen sie)\b"
)
_ROUTINE = (
    r"\b(?:termin\w*|appointment\w*|rezept\w*|prescription\w*|befund\w*|überweisung\w*|"
    r"visit\w*|sprechstunde\w*|impfung\w*|checkup)"
)
_BOT = (
    r"(?:maschine\w*|machine\w*|computer\w*|roboter\w*|robot\w*|bot|bots|automat\w*|"
    r"sprachcomputer\w*|ki|ai|band|tonband|recording|chatbot\w*|sprachassistent\w*)\b"
)


# --- emergency -------------------------------------------------------------

EMERGENCY: tuple[Cue, ...] = (
    _cue(
        "chest_pain",
        "emergency",
        0.9,
        rf"chest (?:is )?{_ADV}(?:pains?|hurt\w*|pressure|tightness|feels? (?:tight|heavy))",
        rf"(?:pains?|pressure|tightness|crushing|stabbing) (?:in|on|across) {_PRON_EN} chest",
        r"(?:tight|crushing|heavy|painful) chest",
        r"clutch\w* (?:\w+ )?(?:chest|heart)",
        r"vernichtungs\w*",
        r"(?:hält|fasst|greift) sich (?:\w+ )?(?:an )?die brust",
        r"(?:hinter|unter|am|im) (?:dem )?brustbein",
        r"behind (?:my|his|her|the) (?:breastbone|sternum)",
        rf"(?:sitting|pressing|weight|squeez\w*|crush\w*|band|vice) (?:\w+ ){{0,3}}"
        rf"(?:on|in|around|across) {_PRON_EN} chest",
        r"chest (?:\w+ ){0,4}(?:squeezed|crushed|in a vice)",
        r"brust (?:\w+ ){0,2}(?:zugeschnürt|eingeschnürt|eingeengt)",
        rf"pains? (?:\w+ )?(?:down|into|in|to) {_PRON_EN} (?:left )?(?:arm|jaw)",
        r"\w*brust ?schmerz\w*",
        r"schmerz\w* (?:\w+ )?(?:in|an) der brust",
        r"(?:druck|enge\w*|stechen|stiche|brennen|ziehen|reißen) (?:\w+ )?(?:auf|in) der brust",
        r"brustenge|engegefühl\w*",
        r"brust (?:tut\w* (?:so )?weh|schmerzt|brennt|drückt|sticht)",
        r"schmerz\w* (?:\w+ )?(?:strahl\w* )?(?:in|bis in) den (?:linken )?(?:arm|kiefer)",
    ),
    _cue(
        "heart_attack",
        "emergency",
        0.95,
        r"heart attack",
        r"cardiac arrest",
        r"\w*herz ?infarkt\w*",
        r"infarkt\w*",
        r"herzanfall\w*",
        r"herzstillstand\w*",
        r"herz (?:bleibt stehen|setzt aus|hat aufgehört)",
        r"heart (?:has )?(?:stopped|isnt beating|is not beating)",
    ),
    _cue(
        "stroke",
        "emergency",
        0.9,
        r"(?:a |the |having a |had a |has a |mini )stroke\b",
        r"stroke\b(?! of)",
        r"\w*schlag ?anfall\w*",
        r"hirnschlag\w*",
        r"hirninfarkt\w*",
        r"face (?:is )?(?:drooping|droops|hanging|sagging)",
        r"(?:drooping|droopy|sagging) (?:face|mouth)",
        r"slurr\w*",
        r"(?:speech|talking|words) (?:is |are )?(?:slurred|garbled)",
        r"(?:cant|cannot|can not) (?:speak|talk) (?:properly|clearly|anymore|any more)",
        rf"(?:one side|half) of {_PRON_EN} (?:face|body)",
        rf"(?:arm|leg|side|face) (?:is |went |has gone |gone |feels |suddenly )*{_ADV}"
        r"(?:numb|paraly\w*|limp|weak)",
        r"(?:gesicht|mundwinkel|gesichtshälfte) (?:\w+ )?häng\w*",
        r"häng\w* (?:\w+ )?(?:mundwinkel|gesicht|gesichtshälfte)",
        r"(?:spricht|redet|sprechen|reden) (?:\w+ )?(?:undeutlich|verwaschen|lallend|wirr)",
        r"lallt\w*",
        r"(?:suddenly|plötzlich) (?:\w+ ){0,3}(?:cant|can not|cannot|nicht mehr) "
        r"(?:\w+ ){0,2}(?:understand|versteh\w*|speak|sprechen|talk|reden)",
        r"(?:face|gesicht) (?:\w+ ){0,2}(?:looks?|sieht) (?:\w+ ){0,2}"
        r"(?:odd|strange|weird|wrong|lopsided|crooked|komisch|seltsam|schief)",
        r"kann (?:\w+ )?(?:nicht mehr|kaum) (?:richtig |deutlich )?(?:sprechen|reden)",
        r"\w*lähmung\w*",
        r"gelähmt\w*",
        r"halbseitig\w*",
        rf"(?:arm|bein|gesichtshälfte|seite) (?:ist |fühlt sich |wird )?{_ADV}"
        r"(?:taub|gelähmt|schlaff|lahm)",
        rf"kann {_ADV}(?:den|seinen|ihren|meinen) (?:\w+ )?(?:arm|bein) nicht (?:mehr )?"
        r"(?:bewegen|heben)",
        r"worst headache",
        r"(?:arm|leg|side|hand|face)\w* (?:\w+ ){0,5}(?:stopped working|not working|gone dead|"
        r"wont move|went dead)",
        r"(?:face|mouth|smile) (?:has |is )?(?:\w+ )?(?:dropped|drooped|fallen|sagged|slipped)",
        r"(?:mouth|face|smile) (?:is |looks |has gone |went |seems )?(?:\w+ )?"
        r"(?:crooked|lopsided|uneven)",
        r"schief\w* (?:mund|gesicht|mundwinkel|lächeln)",
        r"(?:mund|gesicht|mundwinkel) (?:ist |hängt |wirkt |steht )?(?:\w+ )?schief",
        rf"(?:cant|cannot|can not|no longer) feel (?:{_PRON_EN} |the )?(?:left |right )?"
        r"(?:side|arm|leg|face|hand)",
        r"kein gefühl (?:mehr )?(?:im|in der|in den) (?:\w+ )?(?:arm|bein|gesicht|hand|seite)",
        r"(?:vision|sight|eyesight) (?:\w+ )?(?:went|gone|is|has gone|turned) (?:\w+ )?"
        r"(?:blank|black|dark|double)",
        r"(?:suddenly|plötzlich) (?:\w+ )?(?:cant see|blind|nichts mehr sehen)",
        r"schlimmste\w* kopfschmerz\w*",
        r"vernichtungskopfschmerz\w*",
        rf"(?:sieht|sehe) {_ADV}(?:nichts mehr|doppelt|alles schwarz)",
        r"(?:cant|cannot|can not|unable to) (?:\w+ )?(?:lift|move|feel|raise) (?:\w+ )?"
        r"(?:arm|leg|hand|side)",
        r"(?:words|speech|talking) (?:\w+ ){0,3}(?:jumbled|garbled|slurred|muddled|all wrong)",
        r"(?:speech|talking|voice|words) (?:\w+ ){0,2}(?:went|is|sounds|gone|are) (?:\w+ )?"
        r"(?:funny|strange|weird|odd|wrong|slurred)",
        r"(?:cant|cannot|can not) (?:smile|lift \w+ arm|raise \w+ arm) (?:\w+ )?"
        r"(?:properly|on one side|evenly|anymore)",
        rf"kann {_ADV}(?:die|das|den|seinen|ihren|meinen|seine|ihre|meine) (?:\w+ )?"
        r"(?:arm|bein|hand)\w* "
        r"nicht (?:mehr )?(?:bewegen|heben|spüren)",
    ),
    _cue(
        "not_breathing",
        "emergency",
        0.9,
        r"(?:isnt|is not|not|stopped|has stopped|stop) breathing",
        r"(?:cant|cannot|can not|unable to|struggling to|hardly|barely) (?:\w+ )?breathe?\b",
        r"(?:trouble|difficulty|problems?) breathing",
        r"(?:short|shortness) of breath",
        r"gasping for (?:air|breath)",
        r"chok(?:ing|ed|es)\b",
        r"(?:turning|turned|going|gone|lips are) blue",
        r"atmet (?:\w+ )?(?:nicht|kaum)",
        r"(?:keine|kaum|schlecht|schwer) (?:noch |mehr )?luft",
        r"\w*atem ?not\b",
        r"atemstillstand\w*",
        r"(?:hat |hört |hörte )?aufgehört zu atmen|hört auf zu atmen",
        r"(?:kann|können|konnte) (?:\w+ )?(?:nicht|kaum) (?:mehr )?atmen",
        r"(?:ringt|ringe|ringen) nach (?:luft|atem)",
        r"erstick\w*",
        r"(?:läuft|wird|werden|ist) blau(?: an)?\b",
        r"blau angelaufen",
        r"breathing (?:\w+ ){0,3}(?:strangely|weird\w*|funny|oddly|heavily|badly|very fast|"
        r"shallow\w*|noisily|rattl\w*|gurgl\w*)",
        r"(?:dont|do not) think (?:he|she|hes|shes|he is|she is|the baby is|they are) breathing",
        r"(?:lips|face|skin) (?:\w+ )?(?:look|looks|are|is|turning|gone|went) (?:\w+ )?"
        r"(?:grey|gray|blue|purple)",
        rf"atmet {_ADV}(?:komisch|schwer|flach|rasselnd|röchelnd|seltsam|schnell)",
        r"röchel\w*",
        r"(?:lippen|gesicht) (?:\w+ ){0,2}(?:blau|grau|lila)",
        # a limp, blue child: standard triage signs, also without a verb
        r"(?:schlaff|floppy|limp) (?:und|and) (?:\w+ )?(?:blau|blue|grau|grey|gray)",
        r"(?:blau|blue|grau|grey|gray) (?:und|and) (?:\w+ )?(?:schlaff|floppy|limp)",
    ),
    _cue(
        "unconscious",
        "emergency",
        0.9,
        r"unconscious\w*",
        r"passed out",
        r"(?:has |just |suddenly )?collapsed",
        r"fainted",
        r"unresponsive",
        r"(?:wont|doesnt|isnt|is not|not|cant) (?:wake|waking)(?: up)?\b",
        rf"{_SUBJ_EN} (?:is not|isnt|not) responding",
        r"bewusstlos\w*",
        r"ohnmacht\w*",
        r"zusammengebrochen",
        r"zusammengeklappt",
        r"umgekippt",
        r"kollabiert",
        r"nicht (?:mehr )?ansprechbar",
        r"wach\w* (?:\w+ )?nicht (?:mehr )?(?:\w+ )?auf\b",
        rf"{_SUBJ_DE} (?:\w+ )?reagiert (?:gar )?nicht",
        r"(?:isnt|is not|not|stopped|has stopped) moving",
        r"(?:lying|lies|found (?:him|her|them|my \w+)) (?:\w+ )?on the (?:floor|ground)",
        r"(?:gone|went|is|going) (?:\w+ )?limp",
        r"bewegt sich (?:\w+ )?nicht(?: mehr)?",
        r"(?:cant|cannot|can not) get (?:a|any) (?:response|reaction|answer) (?:out of|from)",
        r"nicht wach (?:zu )?(?:kriegen|bekommen)|(?:cant|cannot) (?:wake|rouse) (?:him|her|them)",
        r"(?:kriege|bekomme|krieg|kriegen) (?:ihn|sie|es) (?:\w+ ){0,2}nicht (?:mehr )?wach",
        r"(?:drowsy|sleepy|unresponsive|floppy) after (?:taking|eating|swallowing|drinking)",
        r"(?:baby|säugling|kind|kleine\w*|child|toddler|sohn|tochter|son|daughter)\w* "
        r"(?:\w+ ){0,4}"
        r"(?:schlapp|apathisch|teilnahmslos|floppy|lethargic)",
        r"liegt (?:\w+ )?(?:reglos|leblos|regungslos|auf dem boden)",
        r"(?:leblos|reglos|regungslos)\w*",
        r"zusammengesackt|zusammengesunken|umgefallen|bricht zusammen|kippt um|"
        r"keeled over|slumped|blacked out|fell unconscious|dropped to the floor",
        r"(?:und|,) (?:er |sie )?reagiert (?:gar |überhaupt )?(?:nicht|kaum)",
        r"reagiert (?:\w+ )?auf (?:gar )?nichts",
        r"liegt (?:\w+ ){0,6}(?:und )?(?:antwortet|reagiert|rührt sich) (?:\w+ )?nicht",
        r"(?:lying|lies) (?:\w+ ){0,6}(?:and )?(?:isnt|is not|not|wont|doesnt) "
        r"(?:answering|responding|moving)",
        r"(?:and|,) (?:isnt|wont|doesnt|is not|will not|does not) (?:respond|responding)",
    ),
    _cue(
        "heavy_bleeding",
        "emergency",
        0.9,
        rf"bleed\w* {_ADV}(?:heavily|badly|a lot|profusely|everywhere|non ?stop|so much)",
        r"(?:heavy|severe|massive|uncontrolled|serious|a lot of|lots of|so much) bleeding",
        r"(?:wont|doesnt|cant|will not|does not) stop bleeding",
        r"(?:lots|a lot|so much|loads) of blood",
        r"blood everywhere",
        r"(?:blutet|bluten|blute) (?:\w+ )?(?:stark|heftig|extrem|wie verrückt|ununterbrochen|"
        r"ohne ende|sehr)",
        r"(?:starke|heftige|massive|unstillbare|schwere|starker) blutung\w*",
        r"(?:hört|hören) (?:\w+ )?nicht auf zu bluten",
        r"blutung (?:hört|lässt sich) (?:\w+ )?nicht",
        r"(?:viel|so viel|überall) blut\b",
        r"blut überall",
        r"blut (?:\w+ )?(?:erbrochen|gespuckt|gehustet)|(?:vomit\w*|cough\w*|throw\w* up) blood",
        r"(?:keeps|kept|is still|still|wont stop|keeps on) bleeding",
        r"bleeding through",
        r"(?:soak\w*|bleed\w*|läuft|sickert|suppt) (?:\w+ ){0,2}(?:through|durch) "
        r"(?:the |den |die |das )?"
        r"(?:\w+ )?(?:bandage|dressing|towel|verband|handtuch|pflaster|tuch)\w*",
        r"cut\w* (?:\w+ ){0,3}(?:deep|badly|to the bone)|(?:deep|bad|nasty) (?:cut|wound|gash)",
        r"cut\w* [^.!?]{0,30}(?:wont|will not|doesnt|does not) stop",
        r"(?:tief|schlimm|stark) geschnitten|(?:tiefe|klaffende) (?:wunde|schnittwunde)",
        r"blood (?:is )?(?:\w+ )?(?:pouring|gushing|spurting|streaming|pumping|squirting)",
        r"blut (?:\w+ )?(?:spritzt|schießt|strömt|sprudelt|quillt)",
        r"(?:spritzt|schießt|strömt|sprudelt) (?:\w+ )?blut",
        r"blood (?:\w+ ){0,3}(?:wont|doesnt|will not|does not) stop",
        r"blut\w*[^.!?]{0,60}?(?:hört|hören) (?:\w+ )?nicht (?:mehr )?auf",
        r"(?:blutet|blut läuft) (?:\w+ )?(?:weiter|immer weiter|und läuft|ununterbrochen)",
    ),
    _cue(
        "overdose_poisoning",
        "emergency",
        0.9,
        r"overdos\w*",
        r"(?:eine menge|viele|zu viele|eine ganze packung|eine handvoll) (?:\w+ ){0,2}"
        r"(?:tabletten|pillen|medikamente|\w*antidepressiva|schlaftabletten|schmerzmittel) "
        r"(?:\w+ ){0,5}(?:geschluckt|genommen|eingenommen)",
        r"(?:swallowed|took|taken) (?:\w+ ){0,2}(?:antidepressants|sleeping pills)",
        r"too many (?:of )?(?:\w+ ){0,3}(?:pills|tablets|painkillers|sleeping pills|meds)",
        r"(?:a load|loads|lots|a lot|a bunch|heaps|a handful|a whole pack|a packet) of (?:\w+ )?"
        r"(?:pills|tablets|painkillers|paracetamol|ibuprofen|aspirin|insulin|medication|meds)",
        r"(?:took|swallowed|taken|ate|drank|drunk) (?:a whole |the whole |all |a bottle of |"
        r"a handful of |a pack of |a box of )(?:\w+ )?(?:of )?(?:\w+ )?"
        r"(?:pills|tablets|medication|medicine|bleach|painkillers)",
        r"(?:drank|swallowed|drunk|ate|eaten) (?:some )?(?:of )?(?:the |a |her |his |my )?"
        r"(?:\w+ )?(?:bleach|cleaning \w+|detergent|antifreeze|weed ?killer|pesticide|"
        r"insecticide|rat poison|"
        r"drain cleaner|lamp oil|washing \w+)",
        r"poison(?:ed|ing)\b",
        r"(?:took|swallowed|taken|ate|has taken) (?:\w+ ){0,2}?(?:all|whole|bottle|handful|pack|"
        r"box|entire|lots|dozens?|loads)\b(?: \w+){0,4}? (?:pills|tablets|medication|medicine|"
        r"painkillers|meds)",
        r"(?:too much|an overdose of|double the dose of) (?:\w+ )?(?:insulin|medication|"
        r"medicine|morphine|paracetamol|methadone|heroin|fentanyl|pills|tablets)",
        r"(?:swallowed|verschluckt)(?: \w+){0,4}? (?:button )?(?:batter\w*|magnet\w*|"
        r"knopfbatterie\w*)",
        r"zu viel (?:\w+ )?(?:insulin|medikamente|morphin|paracetamol|schlafmittel|tabletten)",
        rf"{_MEDS_DE}[^.!?]{{0,30}}?auf einmal (?:\w+ )?(?:genommen|geschluckt|eingenommen)",
        rf"(?:alle|ganzen|sämtliche) (?:\w+ )?{_MEDS_DE} (?:\w+ )?auf einmal",
        rf"all (?:of )?(?:my|his|her|the) (?:\w+ )?{_MEDS_EN} at once",
        rf"swallowed (?:\w+ ){{0,5}}?{_MEDS_EN}[^.!?]{{0,20}}(?:quite a few|several|a lot|lots|"
        r"too many|a handful|loads)",
        rf"(?:quite a few|several|a handful) (?:of )?(?:\w+ ){{0,3}}{_MEDS_EN}",
        r"\w*gift (?:\w+ ){0,2}(?:gegessen|getrunken|geschluckt|verschluckt)",
        r"(?:ate|eaten|swallowed|drank|drunk) (?:some )?(?:\w+ )?poison",
        r"(?:alcohol|whisky|whiskey|vodka|wine|booze|schnaps|alkohol|wein|bier|wodka)\w* "
        r"(?:\w+ ){0,4}(?:and|und) (?:\w+ ){0,3}(?:pills|tablets|tabletten|medikamente|pillen)",
        r"(?:war|ist|got|has got|gone|geht) (?:\w+ ){0,2}(?:an den|an die|an das|into the|into his|"
        r"into her|at the) (?:\w+ )?(?:medikament\w*|tabletten|medicine\w*|pills|tablets|"
        r"putzmittel\w*)",
        rf"(?:{_SUBJ_EN}|{_CHILD_EN})\b[^.!?]{{0,50}}?(?:swallowed|got into|ate|eaten)"
        rf"[^.!?]{{0,40}}?{_MEDS_EN}",
        rf"(?:{_SUBJ_EN}|{_CHILD_EN})\b[^.!?]{{0,50}}?{_MEDS_EN}[^.!?]{{0,40}}?swallowed",
        rf"(?:{_KIN_DE}|{_CHILD_DE})\b[^.!?]{{0,60}}?{_MEDS_DE}[^.!?]{{0,40}}?"
        rf"(?:geschluckt|verschluckt|gegessen)",
        r"\w*über ?dosis\w*",
        r"zu viele? (?:\w+ )?(?:\w*tabletten|\w*pillen|\w*medikamente|\w*mittel)",
        r"(?:alle|die ganze packung|eine ganze packung|eine packung|eine handvoll|eine halbe "
        r"packung|eine halbe schachtel|mehrere packungen|"
        r"den ganzen vorrat) (?:\w+ )?(?:tabletten|pillen|schlaftabletten|medikamente)",
        r"vergiftet\w*",
        r"vergiftung\b",
        r"(?:\w*putzmittel|\w*reinigungsmittel|\w*reiniger|bleiche|spülmittel|waschmittel|"
        r"\w*tabs|\w*pods|\w*kapseln|unkrautvernichter|\w*vernichtungsmittel|"
        r"pflanzenschutzmittel|insektizid\w*|"
        r"entkalker|lauge|lampenöl|frostschutz\w*) (?:\w+ ){0,2}(?:getrunken|geschluckt|"
        r"verschluckt|gegessen)",
    ),
    _cue(
        "suicidal",
        "emergency",
        0.95,
        r"(?:kill|killing|hurt|harm|hurting|harming) (?:my|him|her)self",
        r"end\w* (?:my|his|her) (?:own )?life",
        r"end it all",
        r"suicid\w*",
        r"(?:want|wanna|going|wants) to die\b",
        r"(?:dont|do not|doesnt) want to (?:live|be alive|go on)",
        r"better off dead",
        r"no (?:reason|point) (?:in )?(?:to )?(?:living|live|going on)",
        r"take (?:my|his|her) (?:own )?life",
        r"(?:mich|mir|sich) (?:selbst )?(?:umbringen|töten|das leben nehmen|was antun|"
        r"etwas antun)",
        r"bringe mich (?:\w+ )?um\b",
        r"selbstmord\w*",
        r"suizid\w*",
        r"(?:will|möchte|wollte|mag) (?:\w+ )?nicht mehr leben",
        r"nicht mehr leben (?:will|möchte|wollen|mag)",
        r"(?:will|möchte) (?:\w+ )?sterben",
        r"lebensmüde\w*",
        r"(?:allem|alles) ein ende (?:setzen|machen|bereiten)",
        r"(?:mein|sein|ihr) leben beenden",
        r"(?:mich|mir|sich) (?:selbst )?(?:umzubringen|zu töten|das leben zu nehmen|"
        r"etwas anzutun|was anzutun)",
        r"(?:mich|mir|myself) (?:\w+ ){0,4}(?:umbringen|umzubringen|töten|zu töten|"
        r"das leben (?:zu )?nehmen|(?:was|etwas) (?:antun|anzutun))",
        r"(?:going to|gonna|want to|will|just) end it\b",
        r"schluss machen mit allem|mit allem schluss machen",
        r"going to jump|(?:will|werde|werd) (?:\w+ )?(?:runter)?springen",
        r"(?:auf dem|on the|on a) (?:dach|roof|brücke|bridge|balkon|balcony|ledge) "
        r"(?:\w+ ){0,6}(?:jump|springen)",
        r"(?:take|nehme|nehmen) (?:all|alle) (?:of )?(?:\w+ ){0,2}(?:tablets|pills|meds|tabletten|"
        r"pillen|medikamente)",
        r"(?:had enough of|tired of|sick of) (?:living|life|being alive)|keine lust mehr zu leben",
        r"pulsader\w*|(?:cut|slit|slashed) (?:my|his|her) wrists?",
        r"end it (?:all|tonight|today|now)",
        r"(?:sehe|hat|macht) (?:\w+ ){0,2}keinen sinn mehr",
        r"(?:dont|do not) want to wake up",
        r"nicht mehr aufwachen (?:will|möchte)",
        r"better off without me",
        r"(?:jump|throw myself|throw himself|throw herself) (?:off|from|in front of|under)",
        r"(?:vom|von der|aus dem) (?:\w+ )?(?:dach|brücke|fenster|hochhaus|balkon) "
        r"(?:\w+ )?(?:springen|stürzen)",
        r"(?:vor|unter) (?:den|einen) (?:zug|bus|lkw) (?:\w+ )?(?:werfen|springen|legen)",
        r"(?:ich )?tu(?:e)? mir (?:\w+ )?(?:was|etwas) an",
        r"(?:got|have|bought|ready|tied) (?:\w+ )?(?:a |the )?(?:rope|noose)",
        r"(?:strick|schlinge) (?:\w+ ){0,3}(?:besorgt|gekauft|bereit|geknüpft|geknotet)",
        r"(?:dont|do not) want to be (?:here|around|alive) (?:any ?more|no more)",
        r"(?:will|möchte|mag) nicht mehr (?:\w+ )?(?:hier sein|da sein|auf der welt sein)",
        negatable=True,
    ),
    _cue(
        "seizure",
        "emergency",
        0.85,
        r"seizures?\b",
        r"(?:having a |had a )?fit\b(?! for| in| into)",
        r"convuls\w*",
        r"(?:hes|shes|is|keeps|been|started) (?:\w+ )?(?:fitting|seizing)\b",
        r"foam\w* at the mouth|schaum vor dem mund",
        r"\w*krampf ?anfall\w*",
        r"fieberkrampf\w*|febrile (?:seizure|convulsion)\w*",
        r"epilepti\w* anfall\w*",
        r"krampft\b",
        r"zuckt (?:\w+ )?am ganzen körper",
    ),
    _cue(
        "anaphylaxis",
        "emergency",
        0.85,
        r"anaphyla\w*",
        r"(?:throat|tongue|face|lips) (?:is |are )?(?:swelling|swollen|closing|tightening)",
        r"(?:cant|cannot|can not) swallow",
        r"(?:hals|rachen) (?:\w+ )?(?:schwillt zu|zugeschwollen|macht zu)",
        r"kann (?:\w+ )?nicht (?:mehr )?schlucken",
        r"allergisch\w* schock\w*",
        r"(?:zunge|hals|rachen|gesicht|lippen) (?:\w+ )?(?:schwillt|schwellen|angeschwollen)",
        r"schwillt (?:\w+ )?(?:zunge|hals|rachen|gesicht) (?:\w+ )?an",
    ),
    _cue(
        "asthma",
        "emergency",
        0.85,
        r"(?:severe |bad |heavy |schwer\w* |starke\w* )?(?:asthma attack|asthma ?anfall\w*)",
        r"inhaler (?:\w+ )?(?:isnt|is not|not|doesnt|does not) (?:\w+ )?(?:working|help\w*)",
        r"(?:spray|asthmaspray|notfallspray) (?:\w+ )?(?:hilft|wirkt) (?:\w+ )?nicht",
    ),
    _cue(
        "acute_other",
        "emergency",
        0.75,
        r"(?:drifting|slipping) (?:off|away|in and out)",
        r"(?:in and out of|losing|lost) consciousness",
        r"allergic reaction",
        r"(?:badly|severely|seriously) (?:burn\w*|scald\w*|injured|hurt)",
        r"electric(?:al)? shock",
        r"(?:drown\w*|ertrunken|ertrinkt|ertrinken)",
        r"(?:my |her |the )?waters? (?:has |have )?broken|waters broke",
        r"fruchtblase (?:\w+ )?geplatzt",
        r"(?:hypo|unterzucker\w*|blood sugar is (?:very |really )?low)",
        r"stromschlag\w*",
        r"(?:schwer|stark|schlimm) (?:verletzt|verbrannt|verbrüht)",
        r"schwere\w* (?:verletzung|verbrennung)\w*",
        r"kann nicht (?:mehr )?aufstehen",
        r"cant get up",
    ),
    _cue(
        "cardiac_signs",
        "emergency",
        0.45,
        r"herz (?:\w+ )?(?:rast|stolpert|rasen)|herzrasen|herzstolpern",
        r"heart (?:is )?(?:racing|pounding|beating (?:really |very )?fast|skipping)",
        r"schwarz vor (?:den )?augen",
        r"(?:everything|it) (?:went|goes|is going) black",
        r"kalt\w* schweiß|cold sweat\w*",
    ),
    _cue(
        "injury_signs",
        "emergency",
        0.35,
        r"(?:hit|banged|struck|bumped) (?:\w+ )?head",
        r"(?:fell|fallen|falls) (?:down|over|off|from)",
        r"(?:confused|dizzy|drowsy|vomiting|throwing up)",
        r"kopf (?:\w+ )?(?:angeschlagen|aufgeschlagen|gestoßen)",
        r"(?:gestürzt|hingefallen|hinuntergefallen|runtergefallen)",
        r"(?:benommen|verwirrt|schwindelig|erbricht|übergibt sich)",
        r"accident|unfall\w*",
        r"blutet (?:\w+ )?am kopf|head is bleeding|bleeding from (?:the|his|her|my) head|"
        r"kopfverletzung\w*|platzwunde\w*|head injury",
        r"(?:dont|do not|no idea|weiß nicht|wissen nicht|keine ahnung) (?:\w+ )?"
        r"(?:how many|how much|wie viele|wie viel)\b",
    ),
    _cue(
        "ambulance",
        "emergency",
        0.8,
        r"ambulance\b",
        r"paramedics?",
        r"(?:call|dial|ring|rufe|rufen|wählen)\w* (?:\w+ )?(?:112|911|999)\b",
        r"(?:112|911|999) (?:anrufen|rufen|wählen|call)",
        r"krankenwagen\w*",
        r"rettungswagen\w*",
        r"notarzt\w*",
        r"rettungsdienst\w*",
        r"sanitäter\w*",
    ),
    _cue(
        "emergency_word",
        "emergency",
        0.6,
        r"(?:this is an?|its an?|it is an?|medical|real|absolute|genuine) emergency\b",
        r"emergency\b(?! (?:room|department|unit|ward|number|contact|appointment|clinic|hours|"
        r"services?|line|consultation|dentist|care|surgery|funds?|cash|loan|card|overdraft|"
        r"credit|savings|contacts?|exit|plan))",
        r"notfall\b",
        r"\bes ist dringend\b",
    ),
)


# --- human request ---------------------------------------------------------

HUMAN_REQUEST: tuple[Cue, ...] = (
    _cue(
        "talk_to_person",
        "human_request",
        0.9,
        rf"{_TALK_EN} (?:\w+ ){{0,3}}?(?:to |with )?{_PERSON_EN}",
        rf"{_PERSON_EN} (?:\w+ ){{0,5}}?(?:i can|i could|i may|to) (?:speak|talk)",
        rf"{_PERSON_DE} (?:\w+ ){{0,4}}?{_TALK_DE}",
        rf"{_TALK_DE} (?:\w+ ){{0,4}}?(?:mit |an |zu )?{_PERSON_DE}",
        rf"(?:mit|an|zu|zur|zum) {_DEPT_DE} (?:\w+ ){{0,2}}?(?:verbinden|verbunden|durchstellen|"
        r"weiterleiten|weiterverbinden|sprechen|reden)\b",
        rf"(?:connect|transfer|put)\w* (?:me |my call )?(?:through )?(?:to|with) {_DEPT_EN}",
        scan_inside=True,
        unless=r"\b(?:speak|sprechen|talk|reden) (?:\w+ )?(?:english|englisch|german|deutsch|"
        r"french|französisch|turkish|türkisch|arabic|arabisch|russian|russisch|polish|polnisch|"
        r"spanish|spanisch|italian|italienisch|ukrainian|ukrainisch)\b|"
        r"\b(?:are you|is this|am i talking to|bist du|sind sie|spreche ich mit) "
        r"(?:a |an |ein |eine |einem |einer )?(?:real |echte\w* )?(?:person|human|mensch\w*|"
        r"bot|robot\w*|machine|maschine|computer)\b",
    ),
    _cue(
        "want_person",
        "human_request",
        0.75,
        rf"{_WANT_EN} (?:\w+ ){{0,2}}?(?:to (?:speak|talk) (?:to|with) )?{_PERSON_EN}",
        rf"{_WANT_DE} (?:\w+ ){{0,3}}?{_PERSON_DE}",
        rf"{_PERSON_DE} (?:\w+ ){{0,2}}?{_WANT_DE}",
        rf"bitte {_PERSON_DE}",
        rf"{_PERSON_DE},? bitte\b",
        scan_inside=True,
        unless=_ROUTINE + r"|\bbeschwer\w*|\bcomplain\w*|\breklam\w*",
    ),
    _cue(
        "transfer_me",
        "human_request",
        0.9,
        r"(?:transfer|connect|put) me (?:through|over|to|with)\b",
        r"(?:transfer|connect|put through) (?:me|my call)\b",
        r"(?:verbinden|stellen) sie mich",
        r"(?:leiten|verbinden) sie (?:mich|meinen anruf) (?:\w+ )?weiter",
        r"(?:mich|bitte) (?:\w+ )?(?:weiter)?(?:verbinden|durchstellen)\b",
        scan_inside=True,
    ),
    _cue(
        "real_person",
        "human_request",
        0.85,
        r"(?:real|actual|live|proper) (?:person|human|people|agent)",
        r"human being",
        r"human\b(?! resources| rights| error| body)",
        r"(?:echten?|richtigen?|lebendigen?|lebenden) (?:mensch\w*|person\w*|mitarbeiter\w*)",
        r"(?:einen?|einem|einer|nem|mit|zu) mensch\w*",
        r"menschlich\w* (?:\w+ )?(?:mitarbeiter\w*|ansprechpartner\w*|kontakt)",
        r"(?:representative|operator|live agent)\b",
        r"(?<!travel )(?<!estate )(?<!insurance )(?<!secret )agent\b"
        r"(?! (?:of|for|is|was|told|said))",
        r"ansprechpartner\w*",
        r"(?:mit wem|an wen) (?:kann|könnte|soll) ich (?:\w+ ){0,3}(?:sprechen|reden|wenden)",
        r"(?:who|whom) (?:can|could|should) i (?:speak|talk) (?:to|with)",
        r"persönlich (?:\w+ )?(?:sprechen|reden)",
        r"(?:speak|talk) (?:to|with) (?:\w+ )?in person",
        r"(?:put|be put|get put) through to",
        r"(?:durchgestellt|weitergeleitet|weiterverbunden) werden",
        rf"{_PERSON_EN} on the (?:line|phone)",
        rf"get {_PERSON_EN} to (?:call|ring|phone|contact)",
        r"(?:help|see|meet) me in person",
        r"(?:geben|reichen) sie mich (?:\w+ ){0,4}weiter",
        rf"(?:quick |a )?word with {_PERSON_EN}",
        rf"(?:discuss|sort|deal with|go through) (?:this|it|that) with {_PERSON_EN}",
        rf"(?:lieber|persönlich) (?:\w+ ){{0,2}}mit {_PERSON_DE}",
        rf"(?:gespräch|telefonat) mit {_PERSON_DE}",
        r"(?:mit|zu) (?:herrn|frau|dr\.?|doktor|professor) \w+ (?:\w+ ){0,4}(?:sprechen|reden|"
        r"verbinden|durchstellen)",
        r"(?:speak|talk) (?:to|with) (?:mr|mrs|ms|miss|dr|doctor|professor)\.? \w+",
        r"schalten sie mich (?:\w+ ){0,4}durch",
        rf"{_PERSON_DE},? (?:den|die|mit dem|mit der) ich (?:\w+ )?(?:sprechen|erreichen) kann",
        rf"{_PERSON_DE} (?:ans|am) telefon",
        r"ist (?:da |denn )?(?:jemand\w*|ein mensch|ein mitarbeiter|eine mitarbeiterin) "
        r"(?:da|erreichbar|zu sprechen)\b",
        r"mit (?:dem|der|wem) ich (?:\w+ )?(?:sprechen|reden) (?:kann|könnte)",
        rf"(?:pass|hand|put) (?:me|my call) (?:over |on )?to {_PERSON_EN}",
        rf"(?:an|zu) {_PERSON_DE} (?:\w+ )?(?:weitergeben|weiterreichen|übergeben)",
        r"(?:someone|somebody|a person|a member of staff|jemand\w*|ein mitarbeiter|"
        r"eine mitarbeiterin) (?:\w+ ){0,4}(?:call|ring|phone|contact) me\b",
        rf"(?:kann|könnte) mich {_PERSON_DE} (?:\w+ ){{0,3}}(?:zurückrufen|anrufen)",
        rf"(?:can|could|would) {_PERSON_EN} (?:please )?(?:call|ring|phone) me",
        r"(?:is there|are there) (?:a |any |some |an )?(?:one|body|person|human|someone|somebody|"
        r"anyone|anybody|people)\b",
        r"(?:gibt es|ist da|haben sie) (?:\w+ )?(?:jemand\w*|einen menschen|eine person|"
        r"einen mitarbeiter|eine mitarbeiterin)\b",
        unless=r"\b(?:are you|is this|bist du|sind sie|spreche ich mit) "
        r"(?:a |an |ein |eine |einem |einer )?(?:real |echte\w* )?(?:person|human|mensch\w*)",
    ),
    _cue(
        "reject_bot",
        "human_request",
        0.85,
        rf"(?:dont|do not|no more|stop|not|no|never) (?:want to |wanna )?(?:talk\w* |speak\w* )?"
        rf"(?:to |with )?(?:a |an |the |this |your |some )?(?:stupid |automated )?{_BOT}",
        rf"(?:hate|tired of|sick of|fed up with) (?:talking|speaking)? ?(?:to |with )?"
        rf"(?:a |the |these |this |you )?{_BOT}",
        rf"(?:keine\w*|nicht mit (?:\w+ )?|"
        rf"nicht (?:\w+ )?(?:mit )?(?:einer|einem|der|dem|diese\w*) ){_BOT}",
        rf"statt (?:\w+ )?{_BOT}",
        negatable=False,
    ),
    _cue(
        "switchboard",
        "human_request",
        0.6,
        r"(?:die |zur |an die |mit der )?vermittlung\b",
        r"(?:the )?switchboard",
        r"(?:the )?reception(?:ist)?\b(?! hours| desk opening)",
    ),
)


# --- complex topics ----------------------------------------------------------

COMPLEX_TOPICS: dict[str, tuple[Cue, ...]] = {
    "complaint": (
        _cue(
            "complaint",
            "complex",
            0.8,
            r"complain\w*",
            r"(?:file|lodge|make|raise|submit) a (?:formal )?(?:complaint|grievance)",
            r"grievance\w*",
            r"ombuds\w*",
            r"schlichtung\w*|arbitration",
            r"(?:eine|die|meine|ne|offizielle|förmliche) beschwerde\b",
            r"beschwerde\b(?!n)",
            r"beschwerden? (?:\w+ )?(?:einreichen|einlegen|erheben|abgeben|machen)",
            r"beschwerde(?:stelle|formular|management|brief|abteilung)\w*",
            r"\w+beschwerde\b",
            r"(?:mich|uns) (?:\w+ ){0,6}beschweren",
            r"beschwere mich",
            r"reklamation\w*",
            r"reklamier\w*",
            topic="complaint",
        ),
    ),
    "cancellation": (
        _cue(
            "cancellation",
            "complex",
            0.8,
            r"(?:cancel|terminate|close|end|quit)\w* (?:all )?(?:of )?"
            r"(?:my |the |our |this |her |his )?(?:\w+ )?"
            r"(?:account|contract|subscription|membership|policy|insurance|card|loan|credit|"
            r"plan|direct debit|standing order|mandate|relationship|mortgage|savings)",
            r"cancellation (?:of|fee|period|notice|policy|letter)",
            r"termination (?:of|notice|fee)",
            r"withdraw from (?:the|my|our) (?:contract|agreement)",
            r"switch\w* (?:to another |to a different )?banks?\b",
            r"cancel\b",
            r"kündig\w*",
            r"gekündigt\w*",
            r"(?!erk|ank|verk)\w*kündigung\w*",
            r"\w*(?:konto|konten|vertrag|depot|versicherung|mitgliedschaft|abo\w*|kreditkarte|"
            r"girokonto|sparbuch|bausparvertrag)\w* (?:\w+ ){0,4}?"
            r"(?:auflösen|beenden|schließen|stornieren|kündigen|aufheben)",
            r"auflösung (?:des|meines|unseres|der) (?:\w+ )?(?:kontos|vertrags|depots|"
            r"vertrages)",
            r"widerruf\w*",
            r"(?:bank|konto) wechseln",
            topic="cancellation",
        ),
    ),
    "legal": (
        _cue(
            "legal",
            "complex",
            0.8,
            r"lawyers?\b",
            r"attorney\b(?! general)",
            r"solicitor\w*",
            r"legal (?:action|steps|advice|department|matter|proceedings|claim|team|dispute)",
            r"rechtsabteilung\w*",
            r"(?:sue|suing) (?:you|the|your|them|this|for|over)\b",
            r"compensat\w*|entschädig\w*",
            r"zu klagen\b|klagen (?:gegen|wegen)",
            r"(?:for|claim\w*|seek\w*) damages",
            r"lawsuit\w*",
            r"(?:in|to|take \w+ to) court\b",
            r"litigation",
            r"malpractice",
            r"negligen\w*",
            r"compensation\b",
            r"gdpr",
            r"data protection",
            r"power of attorney",
            r"(?:inheritance|probate|executor|estate of|deceased\w* (?:\w+ )?account)",
            r"(?<!real )estate\b",
            r"bankrupt\w*",
            r"insolven\w*",
            r"fraud\w*",
            r"defraud\w*",
            r"scam(?:med)?\b",
            r"identity theft",
            r"\w*anwalt\w*",
            r"\w*anwält\w*",
            r"verklag\w*",
            r"klage\b",
            r"klage (?:einreichen|erheben)",
            r"rechtlich\w* (?:schritte|konsequenzen|beratung|lage|gründe|angelegenheit)",
            r"juristisch\w*",
            r"rechtlich\w* (?:\w+ )?(?:prüfen|klären|vorgehen|beraten|überprüfen)",
            r"legal\w* (?:\w+ )?(?:check|review|advice|advise)",
            r"rechtlich\w* (?:\w+ ){0,4}(?:vorzugehen|vorgehen|schritte)",
            r"gerichtlich\w*",
            r"vor gericht",
            r"\w*gerichtsverfahren\w*",
            r"(?:amts|land|sozial|arbeits)gericht\w*",
            r"schadensersatz\w*",
            r"schadenersatz\w*",
            r"schmerzensgeld\w*",
            r"behandlungsfehler\w*",
            r"kunstfehler\w*",
            r"datenschutz\w*",
            r"dsgvo",
            r"vollmacht\w*",
            r"erbschaft\w*",
            r"(?:das|dem|des|ein|mein|meines|ihr|sein) erbe[sn]?\b|geerbt|erbfall\w*|"
            r"erbengemeinschaft\w*",
            r"erbschein\w*",
            r"nachlass(?:es|verwalt\w*|gericht\w*)?\b",
            r"testament\w*",
            r"pfändung\w*",
            r"betrug\w*",
            r"betrüger\w*",
            r"betrogen",
            r"identitätsdiebstahl\w*",
            r"strafanzeige\w*",
            r"anzeige erstatten",
            r"widerspruch (?:\w+ ){0,4}(?:einleg\w*|einlegen|erheben|ein)\b",
            r"chargeback|dispute (?:a|the|this) (?:charge|payment|transaction)",
            topic="legal",
        ),
    ),
    "negotiation": (
        _cue(
            "negotiation",
            "complex",
            0.75,
            r"(?:re)?negotiat\w*",
            r"(?:better|lower|reduced|special|preferential|cheaper) (?:\w+ )?"
            r"(?:rate|interest|price|deal|terms|conditions|offer)",
            r"discount\w*",
            r"waive\w* (?:the |my |this |that |a )?(?:\w+ ){0,2}(?:fee|charge|penalty|fees|"
            r"charges|interest)",
            r"(?:reduc|lower|cut)\w* (?:my |the |our )?(?:\w+ )?(?:fees?|rate|interest|charges?|"
            r"instal\w*|payments?|repayments?|price)",
            r"payment plan",
            r"(?:repayment|payment|instal\w*) (?:plan|arrangement|schedule|holiday)",
            r"(?:reduction|discount|reduce\w*|lower\w*) (?:\w+ ){0,3}(?:fees?|rate|interest|"
            r"charges?|payments?|price|bill)",
            r"arrears",
            r"pay (?:it )?in instal\w*",
            r"instal\w* plan",
            r"(?:match|beat) (?:the |their |a |this |that )?(?:\w+ )?offer",
            r"competitor\w*",
            r"(?:defer|postpone|suspend|pause) (?:my |the )?(?:\w+ )?"
            r"(?:payments?|instal\w*|repayments?)",
            r"haggl\w*",
            r"counter ?offer",
            r"goodwill",
            r"(?:nach)?verhand\w*",
            r"(?:bessere\w*|günstigere\w*|niedrigere\w*|andere\w*) (?:\w+ )?"
            r"(?:konditionen|zins\w*|preis\w*|tarif\w*|angebot\w*)",
            r"rabatt\w*",
            r"preisnachlass\w*",
            r"(?:gebühr\w*|zinsen|zinssatz|rate|raten|kosten|preis) (?:\w+ ){0,2}?"
            r"(?:senken|erlassen|reduzieren|stunden|herabsetzen|nachlassen|runter)",
            r"ratenzahlung\w*",
            r"in raten (?:\w+ )?(?:zahlen|abbezahlen|bezahlen|abzahlen)",
            r"stundung\w*",
            r"(?:zahlungs|tilgungs|raten)pause\w*|payment (?:holiday|break|pause)",
            r"refund\w*",
            r"\w*(?:raten|rate|zahlung\w*|tilgung\w*) (?:\w+ ){0,2}?stunden\b",
            r"(?:zahlungs|raten|tilgungs)aufschub\w*",
            r"kulanz\w*",
            r"entgegenkommen",
            r"(?:angebot|angebote) (?:\w+ )?konkurrenz",
            r"konkurrenz\w*",
            r"über (?:den preis|die zinsen|die gebühren|die konditionen|die rate\w*) "
            r"(?:reden|sprechen|verhandeln)",
            topic="negotiation",
        ),
    ),
}


# --- emotional ---------------------------------------------------------------

_EMO_ADJ_EN = (
    r"(?:angry|annoyed|frustrated|upset|furious|mad|livid|fed up|sick and tired|desperate|"
    r"devastated|heartbroken|distraught|beside myself|at my wits end|in despair)"
)
_EMO_ADJ_DE = (
    r"(?:\w*sauer|\w*wütend|verärgert|\w*genervt|\w*frustriert|verzweifelt|am ende|fertig|"
    r"empört|außer mir|fassungslos|am boden zerstört|fix und fertig|fuchsteufelswild|"
    r"\w*traurig)\b"
)
_INTENS_EN = r"(?:so|really|very|extremely|terribly|incredibly|absolutely|totally|completely)"
_INTENS_DE = r"(?:so|sehr|total|extrem|wirklich|echt|völlig|furchtbar|richtig|unglaublich)"

EMOTIONAL: tuple[Cue, ...] = (
    _cue(
        "feels_angry",
        "emotional",
        0.8,
        rf"(?:im|i am|i feel|were|we are|getting|i get|i was|makes me) (?:\w+ ){{0,2}}?"
        rf"{_EMO_ADJ_EN}",
        rf"(?:bin|sind|werde|fühle mich|macht mich) (?:\w+ ){{0,2}}?{_EMO_ADJ_DE}",
        scan_inside=True,
    ),
    _cue(
        "feels_desperate",
        "emotional",
        0.8,
        r"(?:bin|sind|fühle mich) (?:\w+ ){0,2}?(?:verzweifelt|am ende|am boden zerstört|"
        r"fix und fertig|überfordert|hilflos|völlig aufgelöst|aufgelöst|ratlos)",
        scan_inside=True,
    ),
    _cue(
        "anger_frustration",
        "emotional",
        0.8,
        r"furious|livid|outrag\w*|fed up|sick and tired|pissed|fuming|seething|incensed",
        r"(?:ive|i have|weve) had (?:it|enough)",
        r"(?:unacceptable|ridiculous|absurd|disgrace\w*|insane|outrageous|unbelievable)",
        r"a (?:\w+ )?joke\b",
        r"ruined my (?:day|week|life|holiday|weekend)|inakzeptabel|ärgert mich",
        r"shocking|inkompetent\w*|unfähig\w*",
        r"(?:absolute |eine |so eine )schande|latein am ende|(?:habe|hab) (?:es|das) (?:\w+ )?satt",
        r"sick to (?:the back teeth|death)|losing my mind|at the end of my tether",
        r"(?:ist ja wohl|ist doch|ist wirklich) das letzte|(?:absolute|totale|einzige) katastrophe|"
        r"katastrophal|zu nichts zu gebrauchen|(?:mir )?reicht (?:es )?(?:mir )?(?:jetzt )?"
        r"(?:wirklich|endgültig)",
        r"waste of (?:my |our )?time",
        r"(?:worst|schlechteste\w*|miserabelste\w*) (?:\w+ ){0,2}(?:service|experience|hospital|"
        r"bank|treatment|erfahrung|behandlung|klinik|krankenhaus|kundenservice)",
        r"driving me (?:crazy|mad|nuts|insane|up the wall)",
        r"zum (?:verrücktwerden|haareraufen|kotzen|heulen|verzweifeln|durchdrehen|"
        r"aus der haut fahren|mäusemelken)",
        r"(?:nerven|nervlich) (?:\w+ ){0,3}(?:am ende|fertig|runter|blank)",
        r"(?:end of my tether|nerves are shot|at the end of my rope)",
        r"(?:cant|cannot|can not) believe (?:how|this|that|what|you)",
        r"how dare (?:you|they)",
        r"breaking point|in bits|(?:absolute|complete|total|living) nightmare|alptraum|albtraum",
        r"(?:platzt|reißt) (?:mir )?(?:\w+ )?(?:der kragen|die hutschnur)",
        r"(?:so |sehr |total |echt |wirklich )?enttäuscht (?:von|über) "
        r"(?:ihnen|ihrer|ihrem|euch|dir)",
        r"(?:halte|halt|ertrage) (?:\w+ ){1,3}nicht (?:mehr )?aus",
        r"(?:machen|macht) mich (?:\w+ )?(?:wahnsinnig|verrückt|fertig|wütend|rasend)",
        r"(?:losing|lost|running out of) (?:my |all )?patience",
        r"geduld (?:\w+ ){0,2}(?:am ende|vorbei|erschöpft)|verliere (?:\w+ )?(?:die|meine) geduld",
        r"geduldsfaden",
        r"(?:feel like )?giving up on|(?:ich )?geb\w* (?:\w+ )?auf\s*(?:$|[.,!?])",
        r"(?:könnte|möchte) (?:\w+ )?(?:heulen|weinen|schreien|explodieren|ausrasten|platzen)",
        r"could (?:\w+ )?(?:scream|cry|explode)",
        r"(?:nobody|no one|noone|keiner|niemand) (?:\w+ ){0,2}(?:bother\w*|hält es für nötig)",
        r"(?:ruft|meldet) (?:sich |mich )?(?:\w+ )?(?:keiner|niemand)",
        r"(?:ist|is|its|that is|das ist|this is) (?:\w+ ){0,2}(?:frustrierend|frustrating|"
        r"annoying|nervig|ärgerlich|enttäuschend|disappointing|infuriating|maddening)",
        r"(?:explained|told you|said|called|asked|repeated|rang) (?:this |that |it |you )?"
        r"(?:three|four|five|several|many|so many|ten|a dozen) times",
        r"(?:sick|tired) of (?:being|waiting|this|it|you|your|the|hearing|calling|getting)",
        r"macht mich (?:\w+ )?(?:wahnsinnig|verrückt|fertig|wütend|rasend)",
        r"(?:kann|darf) (?:doch |ja )?nicht wahr sein",
        r"(?:ärgere|aufrege) mich",
        r"rege mich (?:\w+ ){0,3}auf",
        r"(?:useless|pointless|hopeless|incompetent)",
        r"fuck\w*|shit\w*|damn\w*|bloody (?:machine|thing|system|robot|bot|hell)",
        r"(?:nobody|no one|noone) (?:\w+ )?(?:help|listen|care|understand|call)\w*",
        r"(?:third|fourth|fifth|sixth|umpteenth|tenth|hundredth|millionth) time",
        r"(?:again and again|over and over|every single time)",
        r"(?:drei|vier|fünf|sechs|sieben|acht|zehn|zig|hundert|x)mal (?:\w+ ){0,2}?"
        r"(?:angerufen|erklärt|gesagt|versucht|probiert)",
        r"(?:das|schon das|jetzt das|jetzt schon das) (?:dritte|vierte|fünfte|sechste|siebte|"
        r"zehnte|x te|zigste|hundertste) mal",
        r"wutentbrannt|wütend|stinksauer|stocksauer|empört",
        r"frechheit|unverschämt\w*|zumutung|skandal\w*|lächerlich|unfassbar|unglaublich",
        r"(?:es|das|jetzt) reicht\b",
        r"(?:mir )?reichts\b",
        r"reicht mir",
        r"(?:schnauze|nase) (?:\w+ )?voll",
        r"die faxen dicke",
        r"scheiß\w*|scheiss\w*|verdammt\w*|verfluchte?\w*|mist\b",
        r"zeitverschwendung",
        r"nutzlos|sinnlos",
        r"bringt (?:doch |alles |einfach )?(?:nichts|gar nichts)",
        r"(?:zum|schon zum|bereits zum) (?:dritten|vierten|fünften|sechsten|x ten|zigsten|"
        r"hundertsten|zehnten|wiederholten|x\w*) mal",
        r"(?:keiner|niemand) (?:\w+ )?(?:hilft|hört zu|ruft zurück|versteht|kümmert sich)",
        r"(?:hilft|hört|versteht) (?:mir |mich )?(?:denn )?(?:keiner|niemand)",
    ),
    _cue(
        "distress_grief",
        "emotional",
        0.8,
        r"(?:im|i am|i feel|were|we are) (?:\w+ )?(?:devastated|heartbroken|distraught|"
        r"desperate|terrified|panicking|hopeless|overwhelmed|in despair|in tears|crying|lost)",
        rf"(?:im|i am|i feel) {_INTENS_EN} (?:scared|afraid|worried|sad|anxious|frightened)",
        r"cant stop crying",
        r"(?:bricht|brach|brechen) (?:mir )?das herz|broke my heart",
        r"(?:keep|kept) crying",
        r"(?:die ganze zeit|ständig|nur noch|immer) (?:\w+ )?(?:weinen|heulen)",
        r"(?:mache|macht|machen) (?:mir|sich|uns) (?:solche|so große|große|riesige|furchtbare|"
        r"schreckliche|so viele|wahnsinnige) sorgen",
        r"(?:been |keep |kept )?crying (?:all|for|since|the whole)",
        r"(?:weine|heule) (?:schon )?(?:den ganzen|die ganze|seit)",
        r"(?:so |really |very )?(?:alone|lonely) and (?:scared|afraid|frightened|lost)",
        r"i feel so (?:alone|lonely|scared|helpless|lost|hopeless)",
        r"(?:breaking|broke) down",
        r"(?:cant|cannot) (?:cope|take (?:it|this|any more|anymore)|go on like this)",
        r"dont know what (?:to do|else to do)",
        r"dont know (?:who|where|what) else to",
        r"(?:at|at my) wits end",
        r"passed away",
        rf"{_KIN_EN} (?:\w+ )?(?:has |had |just )?passed\b",
        r"(?:has |just |recently |suddenly )?died\b",
        rf"{_KIN_EN} (?:\w+ )?is dead",
        rf"lost (?:my|our) (?:\w+ )?{_KIN_EN}",
        r"(?:grief|grieving|mourning|bereave\w*|despair\w*)",
        r"(?:scared|worried|frightened|terrified) (?:out of my mind|sick|to death|stiff)",
        r"(?:habe|hab|hat|haben) (?:\w+ ){1,2}angst\b",
        r"panic\w*",
        rf"(?:habe|hab|hat|haben) (?:\w+ )?(?:solche|so eine|riesige|große|panische|furchtbare|"
        rf"schreckliche|{_INTENS_DE}) angst",
        rf"(?:bin|ist) {_INTENS_DE} (?:traurig|verzweifelt|besorgt|ängstlich|verängstigt)",
        r"verzweif\w*",
        r"(?:weine|heule|weinen|heulen) (?:\w+ )?(?:nur noch|ständig|die ganze zeit|seit)",
        r"in tränen",
        r"(?:ich )?(?:weine|heule)\b",
        r"(?:gestorben|verstorben\b|verschieden|ums leben gekommen|tödlich verunglückt)",
        rf"{_KIN_DE} (?:\w+ )?(?:ist|sind) tot\b",
        rf"(?:meinen|meine|unseren|unsere) (?:\w+ )?{_KIN_DE} verloren",
        r"trauer\w*",
        r"panik\w*",
        r"(?:halte|halt|ertrage|ertrag) (?:das|es|dies) (?:\w+ )?nicht (?:mehr )?aus",
        r"(?:kann|können) (?:einfach )?nicht mehr\s*(?:$|[.,!?])",
        r"(?:will|mag) (?:einfach )?nicht mehr\s*(?:$|[.,!?])",
        r"(?:cant|cannot) do this (?:any ?more|any longer)",
        r"weiß (?:einfach |echt )?nicht mehr (?:weiter|was ich tun soll)",
        r"(?:am boden zerstört|fix und fertig|völlig überfordert)",
        negatable=True,
    ),
    _cue(
        "stress",
        "emotional",
        0.6,
        r"stressed|stressful|under (?:so much|a lot of|huge|enormous|too much) pressure",
        r"gestresst|im stress|unter (?:\w+ )?druck|nervlich",
        scan_inside=True,
    ),
    _cue(
        "hardship",
        "emotional",
        0.45,
        r"(?:cant|cannot|can not|unable to) (?:\w+ )?(?:afford|pay) (?:\w+ )?"
        r"(?:rent|bills|mortgage|loan|debts?|food)",
        r"debt collector\w*|bailiff\w*",
        r"behind on (?:\w+ )?(?:mortgage|rent|payments|bills)",
        r"(?:kann|können) (?:\w+ ){0,3}(?:miete|rechnungen|raten|kredit|schulden) (?:\w+ )?"
        r"(?:nicht|kaum) (?:mehr )?(?:bezahlen|zahlen|begleichen)",
        r"schulden (?:\w+ ){0,3}(?:über den kopf|erdrücken)",
        r"inkasso\w*|gerichtsvollzieher\w*|pleite",
    ),
    _cue(
        "negative_word",
        "emotional",
        0.45,
        r"angry|annoyed|annoying|frustrat\w*|upset|irritat\w*|disappointed|unhappy|"
        r"stupid|idiot\w*|hate\b|terrible|horrible|awful",
        r"(?:scared|afraid|frightened|anxious|worried|nervous|sad)\b",
        r"(?:still (?:not|no|havent|hasnt|hasnt been|nothing))",
        r"(?:already (?:called|tried|explained|told|asked|rang))",
        r"(?:called|rang|tried) (?:\w+ )?(?:twice|three times|several times|many times|so often)",
        r"sauer\b|genervt|nervt|nervig|ärgerlich|ärger\w*|frustr\w*|enttäusch\w*|"
        r"traurig|besorgt|angst\b|sorgen\b",
        r"dumm\w*|blöd\w*|idiot\w*|unfähig\w*|inkompetent\w*|schrecklich|furchtbar",
        r"immer noch (?:nicht|kein\w*|nichts)",
        r"(?:schon|bereits) (?:\w+ ){0,2}(?:angerufen|erklärt|gesagt|versucht|probiert|gefragt)",
        r"(?:zweimal|dreimal|mehrmals|x mal|so oft|zigmal|x fach) (?:\w+ ){0,2}?"
        r"(?:angerufen|erklärt|gesagt|versucht|probiert)",
        r"schon wieder",
        r"(?:cant|cannot|kann nicht|kann kaum) (?:\w+ )?(?:sleep|schlafen)",
        r"nervös|nervous",
        r"(?:waiting|warte|warten|gewartet) (?:\w+ ){0,3}(?:hours|weeks|months|ages|forever|"
        r"ewig|stunden|wochen|monate\w*|ewigkeiten)",
        r"seit (?:\w+ )?(?:stunden|wochen|monaten|tagen) (?:\w+ ){0,3}(?:warte|nichts|keine\w*)",
        r"exhausted|erschöpft",
        r"keep (?:getting|being|hearing) (?:\w+ )?(?:wrong|different|nothing|the same)",
        r"verstorbene\w*|late (?:husband|wife|mother|father|son|daughter|partner)",
    ),
)


# --- context: idioms, information questions, history --------------------------

# A cue overlapping one of these spans is dropped: the words are an idiom or a
# name, not a cue ("my heart is set on", "stroke of luck", "Zentrale Notaufnahme").
BLOCKERS: tuple[re.Pattern[str], ...] = tuple(
    compile_folded(r"\b" + source)
    for source in (
        r"heart (?:is|was) set on",
        r"dying (?:to|for)\b",
        r"to die for",
        r"(?:bored|tired|freezing|sick) to death",
        r"died laughing|(?:laughed|laughing) (?:my|his|her) (?:head|ass) off|tot ?gelacht",
        r"(?:a|the) stroke of (?:luck|genius|midnight|the pen|fortune)",
        r"at the stroke of",
        r"(?:kill|killing) (?:time|two birds)",
        r"(?:this|that|it|you) (?:is |are )?killing me",
        r"(?:im|i am|were) afraid (?:i|we|that|so|not|it|you|there|the|this)\b",
        r"(?:dont|do not|no) worr(?:y|ies)",
        r"(?:in|for|in case of) (?:an? )?emergency",
        r"(?:im|in einem|für den|für einen|bei einem) notfall",
        r"(?:system|server|app|online ?banking|verbindung|netz|website|webseite|seite|leitung|"
        r"portal|kurs|markt|connection|site|market|line)\w* (?:\w+ )?(?:ist |is |has |just )?"
        r"(?:zusammengebrochen|kollabiert|collapsed|not responding|unresponsive|"
        r"reagiert (?:gar )?nicht|tot|dead)",
        r"(?:leitung|telefon|akku|handy|phone|battery|line) (?:ist |is )?(?:tot|dead)",
        r"(?:schlaganfall|stroke|herzinfarkt|heart attack)\w* (?:unit|station|ambulanz|"
        r"sprechstunde|zentrum|centre|center|clinic|ward|department|team|nurse|rehab\w*|"
        r"patients|survivors?|support group)",
        r"zentrale notaufnahme",
        r"choking hazard",
        r"(?:take|catch|catching) (?:a |my )?breath",
        r"human resources",
        r"(?:speak|sprechen|talk|reden) (?:\w+ )?(?:english|englisch|german|deutsch|french|"
        r"französisch|turkish|türkisch|arabic|arabisch|russian|russisch|polish|polnisch|spanish|"
        r"spanisch|italian|italienisch|ukrainian|ukrainisch)\b",
        r"cancel\w* (?:my |the |our |this |that )?(?:\w+ )?appointment\w*",
        r"(?:erkundig|ankündig|verkündig)\w*",
        r"(?:magen|rücken|herz|atem|bauch|kopf|gelenk|knie|hals|schluck)\w*beschwerde\w*",
        r"(?:welches|das|ein|ein leckeres|heutige) gericht",
        r"(?:mensch|man)(?: |, )(?:ey|echt|jetzt|das ist|wie)",
        r"(?:ich|er|sie|mein \w+) (?:hat|habe|hatte) (?:immer|schon lange|seit jahren) angst",
    )
)

# A person named as what the caller complains about is not a person asked for
# ("complain about the rude receptionist"); only human_request cues are dropped.
HUMAN_REQUEST_BLOCKERS: tuple[re.Pattern[str], ...] = (
    compile_folded(
        rf"\b(?:about|against|über|wegen|gegen) (?:the |a |your |that |this |den |die |der |das |"
        rf"ihren |ihre |ihrer |einen |eine |einem |einer |dem |diesen |diese )?(?:\w+ )?"
        rf"(?:{_PERSON_EN}|{_PERSON_DE})"
    ),
)

# Sentences that talk *about* a condition or recall the past damp emergency cues:
# one such mention falls below the threshold, two independent cues still fire.
CONTEXTS: tuple[Context, ...] = (
    Context(
        "information_question",
        frozenset({"emergency"}),
        compile_folded(
            r"\b(?:signs?|symptoms?|warning signs?|risks?|risk factors?|prevent\w*|"
            r"information|infos?|leaflets?|brochures?|course|class|study|research|anzeichen|"
            r"symptome?|recovery|genesung|merkblatt|flyer|faltblatt|handout|"
            r"vorsorge\w*|prävention\w*|screening|entrance|eingang|zufahrt|anfahrt|parking|"
            r"warnzeichen|risiko\w*|vorbeug\w*|informationen?|broschüre|kurs\w*|vortrag\w*|"
            r"studie|erste hilfe|first aid)\b"
        ),
        0.5,
    ),
    Context(
        "history",
        frozenset({"emergency"}),
        compile_folded(
            r"\b(?:last (?:year|month|spring|summer|autumn|winter)|(?:years?|months?|weeks?) ago|"
            r"(?:letztes|letzten|vorigen|vergangenes|vergangenen) (?:jahr|monat|sommer|winter)|"
            r"vor (?:\w+ )?(?:jahren|monaten|wochen)|reha\w*|rehab\w*|nachsorge\w*|"
            r"follow ?up|kontrolltermin\w*|check ?up|since (?:his|her|my) |seit (?:seinem|ihrem|"
            r"meinem) |(?:in|im jahr|im|seit|since|back in|hatte|had) (?:19|20)\d\d\b)"
        ),
        0.5,
    ),
)


def builtin_topics() -> tuple[str, ...]:
    return tuple(COMPLEX_TOPICS)


def custom_topic_cue(topic: str, phrases: tuple[str, ...], weight: float = 0.8) -> Cue:
    """A cue from operator-configured phrases; each word also matches inflected forms."""
    alternatives = []
    for phrase in phrases:
        words = [re.escape(w) for w in phrase.lower().split()]
        if words:
            alternatives.append(r"\s+".join(w + r"\w*" for w in words))
    if not alternatives:
        raise ValueError(f"custom topic {topic!r} has no phrases")
    return _cue(f"topic:{topic}", "complex", weight, *alternatives, topic=topic)
