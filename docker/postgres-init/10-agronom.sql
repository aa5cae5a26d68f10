-- Pocket Agronomist's database beside SM Core's, on the same server (docker-compose.yml).
-- The postgres image runs this once, when its data volume is first initialised; on an older
-- volume create it by hand: docker compose exec postgres createdb -U sm_core agronom_production
CREATE DATABASE agronom_production;
