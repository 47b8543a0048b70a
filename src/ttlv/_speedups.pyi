from ttlv.item import Item
from ttlv.limits import Limits

def decode_span(data: bytes, start: int, end: int, limits: Limits, /) -> Item: ...
