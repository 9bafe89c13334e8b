"""QQ groups through OneBot v11 (NapCat, Lagrange.OneBot, LLOneBot, go-cqhttp): ``platform: qq``.

Owns: message segments (:mod:`.segments`), raw OneBot events → shequn events (:mod:`.events`), the WebSocket link in
both directions (:mod:`.transport`) and the connector (:mod:`.connector`).
"""
