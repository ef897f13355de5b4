-- The marketplace's normalised schema (seed 002, completed). Other apps (ops portal, inventory
-- app, price scripts) write these tables; carpages only reads them and tails their binlog.

CREATE TABLE make (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(64) NOT NULL,
    date_created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE KEY uq_make_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE model (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    make_id INT UNSIGNED NOT NULL,
    name VARCHAR(64) NOT NULL,
    body_type VARCHAR(32) NOT NULL,
    date_created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE KEY uq_model_make_name (make_id, name),
    CONSTRAINT fk_model_make FOREIGN KEY (make_id) REFERENCES make (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE variant (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    model_id INT UNSIGNED NOT NULL,
    name VARCHAR(64) NOT NULL,
    date_created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE KEY uq_variant_model_name (model_id, name),
    CONSTRAINT fk_variant_model FOREIGN KEY (model_id) REFERENCES model (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE color (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(32) NOT NULL,
    hex CHAR(7) NOT NULL,
    UNIQUE KEY uq_color_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE city (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(64) NOT NULL,
    state VARCHAR(64) NOT NULL,
    UNIQUE KEY uq_city_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE locality (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    city_id INT UNSIGNED NOT NULL,
    name VARCHAR(64) NOT NULL,
    UNIQUE KEY uq_locality_city_name (city_id, name),
    CONSTRAINT fk_locality_city FOREIGN KEY (city_id) REFERENCES city (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE seller (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(128) NOT NULL,
    mobile_no VARCHAR(16) NOT NULL,
    kind ENUM('individual', 'dealer', 'inventory') NOT NULL DEFAULT 'individual',
    date_created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE car (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    variant_id INT UNSIGNED NOT NULL,
    color_id INT UNSIGNED NOT NULL,
    locality_id INT UNSIGNED NOT NULL,
    seller_id INT UNSIGNED NOT NULL,
    price INT UNSIGNED NOT NULL COMMENT 'asking price in INR',
    year SMALLINT UNSIGNED NOT NULL,
    km_driven INT UNSIGNED NOT NULL,
    fuel_type ENUM('petrol', 'diesel', 'cng', 'electric', 'hybrid', 'lpg') NOT NULL,
    transmission ENUM('manual', 'automatic') NOT NULL,
    owner_count TINYINT UNSIGNED NOT NULL DEFAULT 1,
    rating DECIMAL(2, 1) NOT NULL DEFAULT 0.0 COMMENT 'platform rating 0.0-5.0',
    registration_state CHAR(2) NOT NULL DEFAULT 'MH',
    status ENUM('draft', 'live', 'sold', 'withdrawn') NOT NULL DEFAULT 'draft',
    date_created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    date_updated DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    KEY ix_car_status (status),
    KEY ix_car_status_price (status, price),
    KEY ix_car_variant (variant_id),
    KEY ix_car_locality (locality_id),
    CONSTRAINT fk_car_variant FOREIGN KEY (variant_id) REFERENCES variant (id),
    CONSTRAINT fk_car_color FOREIGN KEY (color_id) REFERENCES color (id),
    CONSTRAINT fk_car_locality FOREIGN KEY (locality_id) REFERENCES locality (id),
    CONSTRAINT fk_car_seller FOREIGN KEY (seller_id) REFERENCES seller (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE feature (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(64) NOT NULL,
    category VARCHAR(32) NOT NULL,
    date_created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE KEY uq_feature_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE car_feature (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    car_id INT UNSIGNED NOT NULL,
    feature_id INT UNSIGNED NOT NULL,
    UNIQUE KEY uq_car_feature (car_id, feature_id),
    KEY ix_car_feature_feature (feature_id),
    CONSTRAINT fk_car_feature_car FOREIGN KEY (car_id) REFERENCES car (id),
    CONSTRAINT fk_car_feature_feature FOREIGN KEY (feature_id) REFERENCES feature (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE car_image (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    car_id INT UNSIGNED NOT NULL,
    position SMALLINT UNSIGNED NOT NULL,
    url VARCHAR(255) NOT NULL,
    tag VARCHAR(32) NOT NULL DEFAULT '',
    date_created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE KEY uq_car_image_position (car_id, position),
    CONSTRAINT fk_car_image_car FOREIGN KEY (car_id) REFERENCES car (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE inspection_report (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    car_id INT UNSIGNED NOT NULL,
    score DECIMAL(3, 1) NOT NULL COMMENT 'overall 0.0-10.0',
    summary VARCHAR(255) NOT NULL,
    report JSON NOT NULL COMMENT 'full checklist; paid-only',
    inspected_at DATETIME NOT NULL,
    UNIQUE KEY uq_inspection_car (car_id),
    CONSTRAINT fk_inspection_car FOREIGN KEY (car_id) REFERENCES car (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE buyer (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(128) NOT NULL,
    mobile_no VARCHAR(16) NOT NULL,
    city_id INT UNSIGNED NULL,
    paid_until DATETIME NULL COMMENT 'subscription end; NULL = never paid',
    date_created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    KEY ix_buyer_city (city_id),
    CONSTRAINT fk_buyer_city FOREIGN KEY (city_id) REFERENCES city (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE interaction (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    buyer_id INT UNSIGNED NOT NULL,
    car_id INT UNSIGNED NOT NULL,
    kind ENUM('view', 'lead') NOT NULL,
    date_created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    KEY ix_interaction_buyer (buyer_id, car_id),
    KEY ix_interaction_car (car_id),
    KEY ix_interaction_date (date_created),
    CONSTRAINT fk_interaction_buyer FOREIGN KEY (buyer_id) REFERENCES buyer (id),
    CONSTRAINT fk_interaction_car FOREIGN KEY (car_id) REFERENCES car (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE test_drive (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    buyer_id INT UNSIGNED NOT NULL,
    car_id INT UNSIGNED NOT NULL,
    scheduled_at DATETIME NOT NULL,
    status ENUM('booked', 'completed', 'cancelled') NOT NULL DEFAULT 'booked',
    date_created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    KEY ix_test_drive_buyer (buyer_id, car_id),
    KEY ix_test_drive_car (car_id),
    CONSTRAINT fk_test_drive_buyer FOREIGN KEY (buyer_id) REFERENCES buyer (id),
    CONSTRAINT fk_test_drive_car FOREIGN KEY (car_id) REFERENCES car (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE offer (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    buyer_id INT UNSIGNED NOT NULL,
    car_id INT UNSIGNED NOT NULL,
    amount INT UNSIGNED NOT NULL,
    status ENUM('open', 'accepted', 'rejected', 'withdrawn') NOT NULL DEFAULT 'open',
    date_created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    KEY ix_offer_buyer (buyer_id, car_id),
    KEY ix_offer_car (car_id),
    CONSTRAINT fk_offer_buyer FOREIGN KEY (buyer_id) REFERENCES buyer (id),
    CONSTRAINT fk_offer_car FOREIGN KEY (car_id) REFERENCES car (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE slug (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    value VARCHAR(64) NOT NULL COMMENT 'URL token, e.g. nexon, mumbai, 4-lakh',
    type ENUM('make', 'model', 'city', 'fuel_type', 'transmission', 'price') NOT NULL,
    filter VARCHAR(64) NOT NULL COMMENT 'filter value the token stands for',
    UNIQUE KEY uq_slug_value (value)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
