-- Candles of the price stream (engine_input), written by the candle builder (python -m worker
-- candles). Prices are BIGINT in the asset's decimals (price_decimals), of the bid; start_ms is
-- the candle's first millisecond (UTC epoch multiples of the period); ticks counts the prices
-- folded in. The key is what makes a candle unique: one row per asset, period and start.
CREATE TABLE candles (
    asset          TEXT     NOT NULL,
    period         TEXT     NOT NULL CHECK (period IN ('1m', '5m', '15m', '1h', '4h', '1d')),
    start_ms       BIGINT   NOT NULL,
    open           BIGINT   NOT NULL,
    high           BIGINT   NOT NULL,
    low            BIGINT   NOT NULL,
    close          BIGINT   NOT NULL,
    ticks          BIGINT   NOT NULL CHECK (ticks > 0),
    price_decimals SMALLINT NOT NULL,
    PRIMARY KEY (asset, period, start_ms)
);

-- The builder's position in each stream: the last entry folded into the candles, committed in
-- the same transaction as the candles. A redelivered entry (at or below it) is skipped, so at-
-- least-once delivery folds every tick exactly once.
CREATE TABLE candle_progress (
    stream    TEXT   PRIMARY KEY,
    last_ms   BIGINT NOT NULL,
    last_seq  BIGINT NOT NULL
);

-- The last accepted bid and ask per asset: the reference of the engine's price band, so the
-- builder refuses exactly the ticks the engine refuses, across restarts.
CREATE TABLE candle_last_price (
    asset TEXT   PRIMARY KEY,
    bid   BIGINT NOT NULL,
    ask   BIGINT NOT NULL
);
