"""The floor for serving: a minimal FastAPI app, one 4-field pydantic body in, 3 floats out.

    uvicorn benchmarks.minimal_app:app   (bench_serving.py starts it beside yts and compares)
"""

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Item(BaseModel):
    uploads: float
    category: str
    country: str
    age: float


@app.post("/predict")
async def predict(item: Item) -> dict[str, float]:
    return {"predicted_subscribers": item.uploads, "predicted_earnings": item.age, "predicted_growth": 1.0}


@app.get("/ready")
async def ready() -> dict[str, bool]:
    return {"ready": True}
