import Link from "next/link";

import type { ListingCard } from "@/lib/api";
import { km, rupees, titleCase } from "@/lib/format";

export function CarCard({ card }: { card: ListingCard }) {
  const name = `${card.year} ${card.make_name} ${card.model_name}`;
  return (
    <li className="card" data-testid="card" data-car-id={card.id}>
      <Link href={card.link}>
        <figure className="photo">
          {card.images[0] && <img src={card.images[0]} alt={name} loading="lazy" />}
          {card.images.length > 1 && <figcaption>{card.images.length}+ photos</figcaption>}
        </figure>
        <div className="card-body">
          <h3>{name}</h3>
          <p className="variant">{card.variant_name}</p>
          <p className="meta">{km(card.km_driven)} · {titleCase(card.fuel_type)} · {titleCase(card.transmission)}</p>
          <p className="meta">{card.owner} owner · {card.city_name}</p>
          <p className="price">{rupees(card.price)}</p>
        </div>
      </Link>
    </li>
  );
}
