"""``/api/v1/tokens``: scoped, revocable API tokens. Anyone may hold tokens no wider than their role; owners see
and revoke everyone's."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path

from shequn.services.accounts import Perm, parse_scopes
from shequn.web.deps import AccountsDep, Reader
from shequn.web.schemas import TokenCreated, TokenIn, TokenOut

router = APIRouter(tags=["tokens"])


@router.get("/tokens", response_model=list[TokenOut])
async def list_tokens(principal: Reader, accounts: AccountsDep) -> list[TokenOut]:
    mine = None if principal.can(Perm.ADMIN) else principal.user.id
    return [TokenOut.of(t) for t in accounts.tokens(user_id=mine)]


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(body: TokenIn, principal: Reader, accounts: AccountsDep) -> TokenCreated:
    """A new token for the caller; its scopes may not exceed the caller's own permissions."""
    scopes = parse_scopes(body.scopes)
    if not scopes <= principal.perms:
        raise HTTPException(403, "a token cannot have more permissions than its creator")
    record, text = accounts.create_token(
        principal.user, body.name, scopes, actor=principal.actor, expires_days=body.expires_days
    )
    return TokenCreated(**TokenOut.of(record).model_dump(), token=text)


@router.delete("/tokens/{token_id}", response_model=dict[str, bool])
def revoke_token(principal: Reader, accounts: AccountsDep, token_id: int = Path(ge=1, le=2**62)) -> dict[str, bool]:
    """Revoke a token: one's own, or anyone's for an owner."""
    record = accounts.token(token_id)
    if record is None or (record.user.id != principal.user.id and not principal.can(Perm.ADMIN)):
        raise HTTPException(404, "no such token")
    return {"revoked": accounts.revoke_token(token_id, actor=principal.actor)}
