"""WeCom (企业微信) customer groups (客户群): callback crypto (:mod:`.crypto`), the server API client (:mod:`.api`),
change events and roster diffs (:mod:`.events`), and the connector (:mod:`.connector`)."""
