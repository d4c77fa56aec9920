"""Filled in by the next commit."""

from fastapi import APIRouter

router = APIRouter()
