"""WeCom (企业微信) customer groups (客户群): callback crypto (:mod:`.crypto`), the server API client (:mod:`.api`),
change events and roster diffs (:mod:`.events`), the welcome template (:mod:`.welcome`), the chat archive
(会话内容存档: WeCom's Finance SDK through ctypes in :mod:`.finance`, its messages as events in :mod:`.messages`, the
puller in :mod:`.archive`), and the connector (:mod:`.connector`)."""
