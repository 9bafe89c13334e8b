"""``/api/v1/users`` (owners only): console users and their roles; the shops' webhook secrets."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query

from shequn.web.deps import AccountsDep, Admin
from shequn.web.schemas import SecretOut, UserIn, UserOut, UserPatch

router = APIRouter(tags=["users"])
Username = Path(min_length=1, max_length=100, pattern=r"^[\w.@-]+$")
Shop = Query(
    min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$", description="the shop's name (as in its path)"
)


@router.get("/users", response_model=list[UserOut])
async def list_users(principal: Admin, accounts: AccountsDep) -> list[UserOut]:
    return [UserOut.of(u) for u in accounts.users()]


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, principal: Admin, accounts: AccountsDep) -> UserOut:
    return UserOut.of(accounts.create_user(body.username, body.password, body.role, actor=principal.actor))


@router.patch("/users/{username}", response_model=dict[str, bool])
def patch_user(body: UserPatch, principal: Admin, accounts: AccountsDep, username: str = Username) -> dict[str, bool]:
    """Change a user's role or enable/disable them (the last owner stays an enabled owner)."""
    if body.role is not None:
        accounts.set_role(username, body.role, actor=principal.actor)
    if body.disabled is not None:
        accounts.set_disabled(username, body.disabled, actor=principal.actor)
    return {"changed": body.role is not None or body.disabled is not None}


@router.get("/webhook-secret", response_model=SecretOut)
def webhook_secret(principal: Admin, accounts: AccountsDep, shop: str = Shop) -> SecretOut:
    """The secret ``shop`` signs its webhooks with (made on first use; each shop has its own)."""
    return SecretOut(secret=accounts.webhook_secret(shop))


@router.post("/webhook-secret/rotate", response_model=SecretOut)
def rotate_secret(principal: Admin, accounts: AccountsDep, shop: str = Shop) -> SecretOut:
    return SecretOut(secret=accounts.rotate_webhook_secret(shop, actor=principal.actor))
