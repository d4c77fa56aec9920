"""One APIRouter per resource family; `starter.api.create_app` includes them."""
