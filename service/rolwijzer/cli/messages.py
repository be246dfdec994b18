"""The CLI's own messages (errors, prompts, hints) in Dutch and English; the server's texts come translated already.

Each message is a format string with named fields; both languages have the same keys (a test checks it). Dutch is
the default, as everywhere in the CLI.
"""

from __future__ import annotations

SITUATION_EXAMPLE = "facts:\n  relation_to_beneficiary: partner\n  hours_per_week: 8.5\n  tasks: [household]"

MESSAGES: dict[str, dict[str, str]] = {
    "nl": {
        # --fact
        "fact_form": "--fact {argument!r}: schrijf het als naam=waarde, bijvoorbeeld tasks=household",
        "fact_twice": "--fact {name} is {count} keer gegeven; geef elk feit één keer (één van meerdere waarden: "
        "{name}=a|b)",
        "not_a_number": "--fact {name}={text}: {text!r} is geen getal; schrijf bijvoorbeeld 8, 8,5 of 8.5 "
        "(één van meerdere getallen: 8|12)",
        "too_many_commas": "--fact {name}={text}: een getal heeft hoogstens één decimaalkomma (8,5); "
        "schrijf 'één van deze waarden' met | ertussen, bijvoorbeeld {name}=8|5 of {name}=8,5|6",
        "set_one_of": "--fact {name}={text}: {name} is een verzameling; som alles op wat van toepassing is, met "
        "komma's ({name}=a,b); 'één van' (a|b) kan hier niet",
        # --file
        "file_unreadable": "{path}: kan niet gelezen worden: {reason}",
        "file_scenarios": "{path} is een scenariobestand ({count} scenario's); draai het met `rolwijzer test {path}`. "
        "Een situatiebestand beschrijft één situatie: `facts:` met de feiten eronder, bijvoorbeeld:\n{example}",
        "file_no_facts": "{path}: geen `facts:`. Een situatiebestand zet de feiten onder `facts:`, bijvoorbeeld:\n"
        "{example}",
        "file_facts_not_mapping": "{path}: onder `facts:` staat geen lijst van feiten (naam: waarde), "
        "bijvoorbeeld:\n{example}",
        # --date, --release, --json
        "bad_date": "--date {text!r}: geen datum; schrijf JJJJ-MM-DD, bijvoorbeeld --date 2027-03-01",
        "json_only_evaluate": "--json: alleen `rolwijzer evaluate`, `facts` en `rules diff` drukken JSON af",
        "rules_diff_usage": "`rolwijzer rules {given}`: schrijf `rolwijzer rules diff A B` met twee versies, "
        "bijvoorbeeld `rolwijzer rules diff 2.0.0 2.1.0`",
        # rolwijzer test
        "no_scenarios": "geen scenario's gevonden in {paths}: geef scenariobestanden (*.yaml met `scenarios:`) of een "
        "map waarin ze staan",
        "no_such_path": "{path}: bestand of map bestaat niet",
        # rolwijzer explain
        "no_rule": "geen regel {rule_id!r}; `rolwijzer rules` somt ze op",
        # connecting and calling
        "unreachable": "de Rolwijzer-server op {server} is niet bereikbaar (draait hij? `make run`)",
        "unreachable_tls": "de Rolwijzer-server op {server} is niet bereikbaar (controleer de TLS-instellingen van de "
        "server en --ca/--cert/--key)",
        "server_speaks_tls": "de Rolwijzer-server op {server} spreekt TLS; geef --ca met het CA-certificaat dat het "
        "servercertificaat ondertekende (en --cert/--key als de server een clientcertificaat vraagt), of "
        "ROLWIJZER_CA",
        "server_speaks_plaintext": "de Rolwijzer-server op {server} spreekt geen TLS; laat --ca/--cert/--key weg "
        "(en ROLWIJZER_CA/ROLWIJZER_CERT/ROLWIJZER_KEY)",
        "lost": "de verbinding met de Rolwijzer-server op {server} is verbroken",
        "problem": "1 probleem met de invoer:",
        "problems": "{count} problemen met de invoer:",
        "cert_and_key": "geef zowel --cert als --key voor een clientcertificaat",
        "cannot_read": "kan {path} niet lezen: {reason}",
        # rolwijzer ask
        "number_invalid": "{text!r} is geen getal: typ cijfers, bijvoorbeeld 4 of 1,5, of 'weet niet'",
        "number_negative": "{text!r}: een aantal kan niet negatief zijn",
        "no_such_answer": "{typed} is geen antwoord: kies {keys} (of met de pijltjestoetsen), dan Enter",
        "choose": "kies {first}-{last}, of typ het antwoord",
        "choose_many": "kies nummers uit {first}-{last}, gescheiden door spaties of komma's; 0 voor geen",
        "pick_many_hint": "(de toets vóór een antwoord, of spatie, kiest of schrapt het; Enter bevestigt; niets "
        "gekozen is: geen)",
        "pick_many_hint_space": "(spatie kiest of schrapt, Enter bevestigt; niets gekozen is: geen)",
        "stop_alone": "'{stop}' gaat niet samen met andere antwoorden: kies het alleen, of schrap het",
        "follow_ups_start": "Rol en aansprakelijkheid staan vast. Nu de vragen die het toezicht bepalen (veiligheid "
        "eerst); kies '{stop}' om te stoppen.",
        "pick_hint": "(kies met het cijfer of de pijltjestoetsen, dan Enter)",
        "pick_hint_arrows": "(kies met de pijltjestoetsen, dan Enter)",
        "save_prompt": "Opslaan als scenario? Bestandsnaam (leeg = niet opslaan)",
        "stopped": "gestopt",
        # rolwijzer audit (the lines of `audit verify` come from rolwijzer.audit_verify.TEXTS, in both languages)
        "audit_shutdown_needs_key": "--expect-shutdown heeft --key-file nodig: alleen een verzegeld controlepunt "
        "bewijst het",
        "audit_cannot_create": "kan {path} niet aanmaken: {reason}",
        "audit_new_key": "{path}: nieuwe auditsleutel {key_id}; bewaar een kopie waar de lezers van het log niet "
        "kunnen schrijven",
        "audit_cannot_load": "kan de regels in {rules} niet laden: {reason}",
        "audit_line": "regel {number} ({decision_id})",
        "audit_replay_summary": "{replayed} opnieuw beslist, {differing} zouden nu anders uitvallen, {skipped} "
        "zonder feiten (niet opnieuw te beslissen)",
        "audit_unreadable": "onleesbaar record: {reason}",
        "audit_cannot_decide": "kan niet opnieuw beslist worden: {reason}",
        "audit_change": "{field}: was {before}, nu {now}",
        "audit_no_file": "{path}: bestand bestaat niet",
    },
    "en": {
        "fact_form": "--fact {argument!r}: write it as name=value, for example tasks=household",
        "fact_twice": "--fact {name} is given {count} times; give each fact once (one of several values: {name}=a|b)",
        "not_a_number": "--fact {name}={text}: {text!r} is not a number; write for example 8, 8.5 or 8,5 "
        "(one of several numbers: 8|12)",
        "too_many_commas": "--fact {name}={text}: a number has at most one decimal comma (8,5); write 'one of these "
        "values' with | between them, for example {name}=8|5 or {name}=8,5|6",
        "set_one_of": "--fact {name}={text}: {name} is a set; list all that apply with commas ({name}=a,b); "
        "'one of' (a|b) does not apply",
        "file_unreadable": "{path}: cannot be read: {reason}",
        "file_scenarios": "{path} is a scenario file ({count} scenarios); run it with `rolwijzer test {path}`. "
        "A situation file describes one situation: `facts:` with the facts below it, for example:\n{example}",
        "file_no_facts": "{path}: no `facts:`. A situation file puts the facts under `facts:`, for example:\n{example}",
        "file_facts_not_mapping": "{path}: `facts:` holds no list of facts (name: value), for example:\n{example}",
        "bad_date": "--date {text!r}: not a date; write YYYY-MM-DD, for example --date 2027-03-01",
        "json_only_evaluate": "--json: only `rolwijzer evaluate`, `facts` and `rules diff` print JSON",
        "rules_diff_usage": "`rolwijzer rules {given}`: write `rolwijzer rules diff A B` with two versions, for "
        "example `rolwijzer rules diff 2.0.0 2.1.0`",
        "no_scenarios": "no scenarios found in {paths}: give scenario files (*.yaml with `scenarios:`) or a folder "
        "that holds them",
        "no_such_path": "{path}: no such file or folder",
        "no_rule": "no rule {rule_id!r}; `rolwijzer rules` lists them",
        "unreachable": "cannot reach the Rolwijzer server at {server} (is it running? `make run`)",
        "unreachable_tls": "cannot reach the Rolwijzer server at {server} (check the server's TLS settings and "
        "--ca/--cert/--key)",
        "server_speaks_tls": "the Rolwijzer server at {server} speaks TLS; give --ca with the CA certificate that "
        "signed the server's certificate (and --cert/--key when the server asks for a client certificate), or "
        "ROLWIJZER_CA",
        "server_speaks_plaintext": "the Rolwijzer server at {server} does not speak TLS; leave out --ca/--cert/--key "
        "(and ROLWIJZER_CA/ROLWIJZER_CERT/ROLWIJZER_KEY)",
        "lost": "lost the connection to the Rolwijzer server at {server}",
        "problem": "1 problem(s) with the input:",
        "problems": "{count} problem(s) with the input:",
        "cert_and_key": "give both --cert and --key for a client certificate",
        "cannot_read": "cannot read {path}: {reason}",
        "number_invalid": "{text!r} is not a number: type digits, for example 4 or 1.5, or 'don't know'",
        "number_negative": "{text!r}: an amount cannot be negative",
        "no_such_answer": "{typed} is not an answer: choose {keys} (or use the arrow keys), then Enter",
        "choose": "choose {first}-{last}, or type the answer",
        "choose_many": "choose numbers from {first}-{last}, separated by spaces or commas; 0 for none",
        "pick_many_hint": "(an answer's key, or space, selects or clears it; Enter confirms; nothing selected "
        "means: none)",
        "pick_many_hint_space": "(space selects or clears, Enter confirms; nothing selected means: none)",
        "stop_alone": "'{stop}' does not go with other answers: choose it alone, or clear it",
        "follow_ups_start": "Role and liability are settled. Now the questions that decide the supervision (safety "
        "first); choose '{stop}' to stop.",
        "pick_hint": "(use the number or the arrow keys, then Enter)",
        "pick_hint_arrows": "(use the arrow keys, then Enter)",
        "save_prompt": "Save as a scenario? File name (empty = do not save)",
        "stopped": "stopped",
        "audit_shutdown_needs_key": "--expect-shutdown needs --key-file: only a sealed checkpoint proves it",
        "audit_cannot_create": "cannot create {path}: {reason}",
        "audit_new_key": "{path}: new audit key {key_id}; keep a copy where the log's readers cannot write",
        "audit_cannot_load": "cannot load the rules in {rules}: {reason}",
        "audit_line": "line {number} ({decision_id})",
        "audit_replay_summary": "{replayed} replayed, {differing} would now differ, {skipped} without facts "
        "(not replayable)",
        "audit_unreadable": "unreadable record: {reason}",
        "audit_cannot_decide": "cannot be decided again: {reason}",
        "audit_change": "{field}: was {before}, now {now}",
        "audit_no_file": "{path}: no such file",
    },
}


def say(language: str, key: str, **fields: object) -> str:
    """The message `key` in `language` (Dutch for any language other than English), with its fields filled in."""
    return MESSAGES.get(language, MESSAGES["nl"])[key].format(**fields)
