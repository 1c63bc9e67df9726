"""One translator: every typed error becomes a Swedish sentence by its TYPE (messages.explain), and a
manual send ("Överför order", "Försök igen") returns a status value that messages.describe words."""

from __future__ import annotations

import inspect
import re

import pytest
import sqlalchemy.exc

from flask_specter.inbound.pulls import PullHalted
from flask_specter.messages import EXPORT, ORDER, PULL, RECORD, SendResult, SendState, action, describe, explain
from flask_specter.outbound.exporters import PushProblem
from flask_specter.remote import errors

# A message that reads like another fault, in English: a translator that looked at the words would
# pick the wrong sentence, or show these English words to the admin.
MISLEADING = "Specter error 10: invalid key; timeout, could not be reached, unknown article 'ZZ-9'"
ENGLISH = re.compile(r"\b(the|is|not|error|failed|could|unknown|invalid|timeout|reached|answer|set|key)\b", re.I)


def _typed_errors() -> list[type[errors.SpecterError]]:
    return [
        cls for _name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.SpecterError) and cls.__module__ == errors.__name__ and cls is not errors.ExplainedError
    ]


def _instance(cls: type[errors.SpecterError]) -> errors.SpecterError:
    """``cls`` carrying the misleading English message (Specter's own words are Swedish here)."""
    if issubclass(cls, errors.SpecterApiError):
        code = next((c for c, k in errors._BY_CODE.items() if k is cls), 99 if cls is errors.SpecterOpenBatchError else 42)
        return cls(code, "ordern 'SO-7' saknas, fältet 'namn' är för långt, batch 'b-1' är öppen")
    if cls is errors.SpecterEncodingError:
        return cls(MISLEADING, field="namn")
    return cls(MISLEADING)


SPECTERS_WORDS = re.compile(r"\(Specter: [^)]*\)|: ordern 'SO-7'[^.]*$")


@pytest.mark.parametrize("cls", _typed_errors(), ids=lambda c: c.__name__)
@pytest.mark.parametrize("context", [ORDER, RECORD, PULL, EXPORT, action("Uppdatera lager")], ids=["order", "record", "pull", "export", "action"])
def test_every_typed_error_has_a_swedish_sentence_without_english_leftovers(cls, context):
    exc = _instance(cls)
    text = explain(exc, context)
    assert text and text != str(exc)
    assert "Specter error" not in text and "ZZ-9" not in text and "invalid key" not in text, text
    ours = SPECTERS_WORDS.sub("", text)  # Specter's own quoted words aside, every word is ours
    assert not ENGLISH.search(ours), text
    assert re.search(r"[åäöÅÄÖ]|Specter|Oväntat", text), text
    if context.doing:
        assert text.startswith("Uppdatera lager misslyckades: ")


def test_the_sentence_follows_the_type_not_the_words():
    timeout = errors.SpecterTimeout("Specter error 10: the credentials are wrong", action="newOrderSubmit")
    assert explain(timeout, ORDER) == "Specter svarade inte i tid på anropet newOrderSubmit."
    auth = errors.api_error(10, "timeout: Specter could not be reached")
    assert explain(auth, ORDER).startswith("Specter nekade inloggningen:")
    unknown = errors.SpecterUnavailable("unknown article 'ZZ-9'")
    assert explain(unknown, RECORD).startswith("Specter gick inte att nå")
    plain = RuntimeError("Specter nekade inloggningen")  # Swedish words do not make it a Specter error
    assert explain(plain, PULL) == "Oväntat fel (RuntimeError); se serverloggen."


def test_our_own_swedish_stops_are_shown_as_written():
    for exc in (PushProblem("Ordern har ingen kund i butiken."), PullHalted("Hämtningen stoppades efter 3 batcher.")):
        assert explain(exc, ORDER) == str(exc)


def test_the_button_to_press_is_the_contexts():
    exc = errors.api_error(21, "articleNo 'NYHET-1' is unknown")
    assert explain(exc, ORDER).endswith('och klicka sedan på "Överför order".')
    assert explain(exc, RECORD).endswith('och klicka sedan på "Försök igen".')
    assert explain(exc, EXPORT).endswith("och försök sedan igen.")
    assert "Artikeln 'NYHET-1' finns inte i Specter." in explain(exc, ORDER)
    down = errors.SpecterUnavailable("Specter could not be reached for newOrderSubmit: ConnectionError")
    assert "försök igen om en stund." in explain(down, action("Aktiveringen"))  # a button: nothing retries it
    assert "igen om en stund" not in explain(down, ORDER)  # the outbox says when it retries


def test_a_config_error_names_the_setting_in_swedish():
    exc = errors.SpecterConfigError("Set SPECTER_PUBLIC_URL to the shop's public address", settings=("SPECTER_PUBLIC_URL",))
    assert explain(exc, action("Aktiveringen")) == (
        "Aktiveringen misslyckades: Specter-kopplingen är inte inställd: ange SPECTER_PUBLIC_URL "
        "(butikens publika adress, den Specter anropar)."
    )


def test_a_database_error_says_its_kind_never_the_statement_or_its_parameters():
    orig = Exception('duplicate key value violates unique constraint "uq_email"\nDETAIL: Key (email)=(tolvan@example.se)')
    exc = sqlalchemy.exc.IntegrityError("INSERT INTO customers (email) VALUES (%(email)s)", {"email": "tolvan@example.se"}, orig)
    text = explain(exc, PULL)
    assert text == 'Oväntat fel i databasen (Exception): duplicate key value violates unique constraint "uq_email"'
    assert "tolvan" not in text and "INSERT" not in text


@pytest.mark.parametrize("state", list(SendState), ids=lambda s: s.value)
def test_every_send_state_has_a_sentence_for_orders_and_records(state):
    result = SendResult("1001", state, specter_no="SO-1", error="Specter svarade inte i tid.")
    for context in (ORDER, RECORD):
        text = describe(result, context)
        assert text and "None" not in text and not ENGLISH.search(text), text
    assert ("SO-1" in describe(result, ORDER)) == result.ok


def test_the_flash_colour_comes_from_the_state_not_the_words():
    # The old admin coloured a message by searching it for "fel", "misslyck", "överförd"...
    sent = SendResult("K-1", SendState.SENT, note="felstavat namn rättat i Specter")
    assert sent.category == "success" and describe(sent, RECORD) == "Skickad till Specter (felstavat namn rättat i Specter)."
    failed = SendResult("1001", SendState.FAILED, error="Ordern är redan överförd enligt butiken")
    assert failed.category == "warning" and describe(failed, ORDER).startswith("Ordern kunde inte överföras:")
    assert SendResult("1001", SendState.WAITING).category == "info"


def test_resend_order_cli_words_the_status_value_and_exits_by_it(make_shop, sandbox):
    from ._push_fixtures import CLOSED_REDIS, add_customer, add_product, place, sandbox_orders, set_toggles, shop_factory

    app = shop_factory(make_shop)(redis=CLOSED_REDIS)  # no queue: the command sends in this process
    set_toggles(app, product_sync=False)
    sandbox.hooks.create_articles([{"articleNo": "frakt", "name": "Frakt"}])
    add_product(app, "NYHET-1", stock=5)  # not in Specter: the order is refused with code 21
    oid, number = place(app, add_customer(app, "k@example.se"), [("NYHET-1", 1)])
    runner = app.test_cli_runner()

    refused = runner.invoke(args=["specter", "resend-order", str(oid), "99999"])
    assert refused.exit_code == 1
    assert f"{oid}: Ordern kunde inte överföras: Artikeln 'NYHET-1' finns inte i Specter." in refused.output
    assert 'klicka sedan på "Överför order"' in refused.output and "Specter error" not in refused.output
    assert "99999: Ordern 99999 finns inte i butiken." in refused.output

    sandbox.hooks.create_articles([{"articleNo": "NYHET-1", "name": "Nyhet", "inStock": 5}])  # the admin fixes it
    sent = runner.invoke(args=["specter", "resend-order", str(oid)])
    specter_no = sandbox_orders(sandbox, number)[0]["orderNo"]
    assert sent.exit_code == 0 and f"{oid}: Ordern är överförd till Specter (ordernummer {specter_no})." in sent.output
    again = runner.invoke(args=["specter", "resend-order", str(oid)])
    assert again.exit_code == 0 and f"Ordern är redan överförd till Specter (ordernummer {specter_no})." in again.output
    assert len(sandbox_orders(sandbox, number)) == 1
