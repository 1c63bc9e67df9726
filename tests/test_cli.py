"""``flask specter …`` as an operator runs it: activate, sync-stock, import-articles, status, worker."""

from __future__ import annotations

from .test_stock_sync import add_products, shop_stock


def test_activate_registers_the_callbacks_and_shows_them_redacted(make_shop, sandbox):
    app = make_shop(SPECTER_PUBLIC_URL="https://shop.example.se")
    result = app.test_cli_runner().invoke(args=["specter", "activate"])
    assert result.exit_code == 0, result.output
    assert "Specter says" in result.output and "token=***" in result.output
    assert app.config["SPECTER_CALLBACK_TOKEN"] not in result.output
    registered = sandbox.hooks.state()["callbacks"]
    assert registered["actionStockChange"].startswith("https://shop.example.se/specter/callback/stock?token=")


def test_activate_without_a_public_url_says_what_to_set(make_shop, sandbox):
    app = make_shop(SPECTER_PUBLIC_URL="")
    result = app.test_cli_runner().invoke(args=["specter", "activate"])
    assert result.exit_code != 0 and "SPECTER_PUBLIC_URL" in result.output


def test_sync_stock_fetches_everything_and_the_worker_applies_it(make_shop, sandbox, live_worker):
    app = make_shop()
    sandbox.hooks.create_articles([{"articleNo": f"C-{i}", "name": "x", "priceExclVat": "1", "vatPercent": 25, "inStock": 5 + i} for i in range(3)])
    add_products(app, [f"C-{i}" for i in range(3)])
    result = app.test_cli_runner().invoke(args=["specter", "sync-stock"])
    assert result.exit_code == 0, result.output
    assert "Fetched and confirmed 3 stock rows" in result.output
    live_worker(app)
    from .conftest import wait_until

    wait_until(lambda: shop_stock(app) == {"C-0": 5, "C-1": 6, "C-2": 7}, message="the stored rows to be applied")
    status = app.test_cli_runner().invoke(args=["specter", "status"])
    assert "feed stock: last success" in status.output and "never" not in status.output.split("feed stock")[1].split("\n")[0]


def test_import_articles_respects_the_setting(make_shop, sandbox, client):
    app = make_shop()
    sandbox.hooks.create_articles([{"articleNo": "IMPORT-1", "name": "Kaffekopp Åsa", "priceExclVat": "79,20", "vatPercent": 25}])
    client.check_account_settings({})
    off = app.test_cli_runner().invoke(args=["specter", "import-articles"])
    assert off.exit_code != 0 and "Importera produkter från Specter" in off.output
    with app.app_context():
        app.extensions["specter"].settings.set("import_products", True)
    on = app.test_cli_runner().invoke(args=["specter", "import-articles"])
    assert on.exit_code == 0, on.output
    assert "created 1" in on.output
