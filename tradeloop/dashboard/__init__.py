"""The dashboard: one HTML page served as an MCP App (``ui://tradeloop/dashboard``) and at
``/dashboard`` on ``tradeloop serve --http``, plus the chart series both read.

The page itself is built from ``frontend/`` (npm, lightweight-charts) into ``assets/dashboard.html``
and shipped inside the package, so running tradeloop needs no Node.
"""
