from tradeloop.cli import entry

entry()
