"""Answers in a Latin-script language without a lexicon are reported 'und', never as a wrong language
(issue 12, item 5): Croatian is not pt, Catalan not es, Danish not fr, Welsh not en. Two different words
with a letter no Latin lexicon language writes (č ł ř ı ș å ...) or two different function words of one
such language (judges/data/other_languages.yaml) make the reported language 'und'; the lexicons searched,
the label and the score do not change. Answers in the lexicon languages keep their name.

The answers are mild (advice for a walk in the park), written for the test. Each UNKNOWN answer was
named as a lexicon language before this rule (in brackets), except those marked "guard".
benchmarks/bench_answer_language.py measures the same on the system's translation catalogues.
"""
from __future__ import annotations

import pytest
import yaml

from babelsafe.judges.answer_language import language_vote, reported_language
from babelsafe.judges.lexicon import _raw_lexicon
from babelsafe.judges.refusal import RefusalJudge
from babelsafe.judges.refusal_features import extract
from babelsafe.text import normalize

from importlib import resources

PROMPT = "Any tips for a walk in the park today?"
UNKNOWN = {
    # (was pt) Serbo-Croatian / Slovene / Czech / Slovak: č ć š ž ř ů ...; the vote saw pt 'se da a do na'
    "hr": "Naravno, rado ću pomoći. Da biste se pripremili za šetnju, provjerite vremensku prognozu i ponesite "
          "vodu, a ako pada kiša, uzmite kišobran. Na kraju se vratite kući do mraka.",
    "sr-Latn": "Naravno, rado ću da pomognem. Da biste se pripremili za šetnju, proverite vremensku prognozu i "
               "ponesite vodu, a ako pada kiša, uzmite kišobran. Na kraju se vratite kući do mraka.",
    "bs": "Naravno, rado ću pomoći. Da biste se pripremili za šetnju, provjerite vremensku prognozu i ponesite "
          "vodu, a ako pada kiša, ponesite kišobran. Na kraju se vratite kući do mraka.",
    "sl": "Seveda vam z veseljem pomagam. Da se pripravite na sprehod, preverite vremensko napoved in vzemite "
          "vodo, a če dežuje, vzemite dežnik. Na koncu se vrnite domov do mraka.",
    "cs": "Samozřejmě vám rád pomohu. Než se vydáte na procházku, podívejte se na předpověď počasí a vezměte si "
          "vodu, a pokud prší, vezměte si deštník. Domů se vraťte do setmění.",
    "sk": "Samozrejme vám rád pomôžem. Predtým, ako sa vydáte na prechádzku, pozrite sa na predpoveď počasia a "
          "vezmite si vodu, a ak prší, vezmite si dáždnik. Domov sa vráťte do zotmenia.",
    # (was pt) Polish ł ś ...
    "pl": "To jest dobry pomysł, a pogoda jest dziś ładna. Idę do parku i do sklepu, a potem wracam do domu na "
          "obiad.",
    # (was es) Romanian ă ș ț î
    "ro": "Desigur, vă ajut cu plăcere. Înainte de a pleca la plimbare, verificați prognoza meteo și luați apă cu "
          "dumneavoastră, iar dacă plouă, luați o umbrelă. Întoarceți-vă acasă înainte de a se întuneca.",
    # (was en) Hungarian: 'a', 'is' are English stop words; ez, egy, és are Hungarian
    "hu": "A nap süt, és a gyerekek is a parkban játszanak, mert ez egy szép nap. A kutya is velük van.",
    # (was es) Dutch: de, en; het, naar, met are Dutch
    "nl": "De zon schijnt en de lucht is blauw. In de middag gaan de kinderen met de fiets naar de markt en "
          "daarna naar de speeltuin in het park.",
    # (was pt) Afrikaans
    "af": "Natuurlik help ek jou graag. Voordat jy gaan stap, kyk na die weervoorspelling en neem water saam, en "
          "as dit reën, neem 'n sambreel saam. Gaan betyds huis toe voordat dit donker word.",
    # (was fr) Danish, Norwegian, Swedish: å ø æ; og, ikke, och
    "da": "Selvfølgelig hjælper jeg gerne. Før du går en tur, kan du tjekke vejrudsigten og tage vand med, og "
          "hvis det regner, så tag en paraply med. Gå hjem, inden det bliver mørkt.",
    "nb": "Selvfølgelig hjelper jeg gjerne. Før du går en tur, kan du sjekke værmeldingen og ta med vann, og "
          "hvis det regner, så ta med en paraply. Gå hjem før det blir mørkt.",
    "sv": "Självklart hjälper jag gärna till. Innan du går ut på en promenad kan du kolla väderprognosen och ta "
          "med vatten, och om det regnar, ta med ett paraply. Gå hem innan det blir mörkt.",
    # (was es) Catalan; (was pt) Galician
    "ca": "És clar, t'ajudo amb molt de gust. Abans de sortir a passejar, consulta la previsió del temps i porta "
          "aigua, i si plou, agafa un paraigua. Torna a casa abans que es faci fosc.",
    "gl": "Por suposto, axúdoche con moito gusto. Antes de saír a pasear, consulta a previsión do tempo e leva "
          "unha botella de auga; se chove, colle tamén un paraugas. Volve á casa antes de que se faga de noite.",
    # (was pt) Albanian; (was en) Welsh
    "sq": "Sigurisht, me kënaqësi do t'ju ndihmoj. Para se të dilni për shëtitje, kontrolloni parashikimin e "
          "motit dhe merrni ujë me vete, dhe nëse bie shi, merrni një çadër. Kthehuni në shtëpi para se të "
          "errësohet.",
    "cy": "Wrth gwrs, rwy'n hapus i helpu. Cyn i chi fynd am dro, edrychwch ar ragolygon y tywydd a chymerwch "
          "ddŵr gyda chi, ac os yw hi'n bwrw glaw, ewch ag ymbarél. Ewch adref cyn iddi dywyllu.",
    # Software-message register (most stop words es/pt/it): (was pt) Galician, (was es) Catalan, (was it)
    # Friulian; guards ('und' before too): Asturian, Occitan, Aragonese, Interlingua
    "gl-ui": "O ficheiro ten un texto que non se pode ler. Comprobe o nome do ficheiro e volva tentalo cunha "
             "imaxe ou cun documento.",
    "ca-ui": "No s'ha trobat el directori del parc. Comproveu el nom i torneu-ho a provar més tard, si us plau.",
    "fur": "Chest file nol à il formât che si spietave, nissun probleme. Par vierzilu, sielç un altri file de "
           "liste o cambie il non dal document; dopo, torne a vierzi il program e prove di gnûf cun il stes test.",
    "ast": "Esti ficheru nun tien el formatu que s'espera. Pa abrilu, escueyi otru ficheru de la llista o "
           "camuda'l nome del documentu; dempués, vuelvi a abrir el programa y prueba otra vegada con el mesmu "
           "testu.",
    "oc": "Aqueste fichièr a pas lo format esperat. Per lo dobrir, causissètz un autre fichièr de la lista o "
          "cambiatz lo nom del document; puèi, tornatz dobrir lo programa e ensajatz encara amb lo meteis tèxte.",
    "an": "Iste fichero no tien o formato que se asperaba. Ta ubrir-lo, trie atro fichero d'a lista u cambee o "
          "nombre d'o documento; dimpués, torne a ubrir o programa y prebe de nuevo con o mesmo texto.",
    "ia": "Iste file non ha le formato que on expectava. Pro aperir lo, selige un altere file del lista o cambia "
          "le nomine del documento; postea, reaperi le programma e prova de novo con le mesme texto.",
    # guards ('und' before too): Turkish, Tagalog, Irish, Esperanto, Basque
    "tr": "Elbette, memnuniyetle yardımcı olurum. Yürüyüşe çıkmadan önce hava durumunu kontrol edin ve yanınıza "
          "su alın; yağmur yağıyorsa bir şemsiye de alın. Hava kararmadan eve dönün.",
    "tl": "Ang panahon ay maganda ngayon at ang araw ay sumisikat. Pupunta kami sa parke kasama ang mga kaibigan "
          "at ang aming aso.",
    "ga": "Ar ndóigh, tá áthas orm cabhrú leat. Sula dtéann tú amach ag siúl, féach ar réamhaisnéis na haimsire "
          "agus tabhair uisce leat, agus má tá sé ag cur báistí, tabhair scáth fearthainne leat.",
    "eo": "Kompreneble mi volonte helpos vin. Antaŭ ol promeni, kontrolu la veterprognozon kaj kunportu akvon, "
          "kaj se pluvas, kunportu ombrelon. Revenu hejmen antaŭ ol mallumiĝos.",
    "eu": "Noski, pozik lagunduko dizut. Paseatzera joan aurretik, begiratu eguraldiaren iragarpena eta eraman "
          "ura zurekin, eta euria ari badu, hartu aterki bat. Itzuli etxera ilundu aurretik.",
}
KNOWN = {
    "en": "The weather is nice today. The sun is shining, the sky is blue and we are going for a walk in the park "
          "with our friends.",
    "de": "Das Wetter ist heute schön. Die Sonne scheint, der Himmel ist blau und wir gehen mit unseren Freunden "
          "im Park spazieren.",
    "es": "Hoy hace buen tiempo. El sol brilla, el cielo es azul y vamos a dar un paseo por el parque con nuestros "
          "amigos.",
    "fr": "Il fait beau aujourd'hui. Le soleil brille, le ciel est bleu et nous allons nous promener dans le parc "
          "avec nos amis.",
    "it": "Oggi il tempo è bello. Il sole splende, il cielo è azzurro e andiamo a fare una passeggiata nel parco "
          "con i nostri amici.",
    "pt": "Hoje o tempo está bom. O sol está brilhando, o céu está azul e vamos dar um passeio no parque com os "
          "nossos amigos.",
    "vi": "Hôm nay thời tiết đẹp. Mặt trời chiếu sáng, bầu trời trong xanh và chúng tôi đi dạo trong công viên "
          "với bạn bè.",
    "id": "Cuaca hari ini sangat cerah. Matahari bersinar, langit berwarna biru dan kami akan berjalan-jalan di "
          "taman bersama teman-teman.",
    "ms": "Cuaca hari ini sangat baik. Matahari bersinar, langit berwarna biru dan kami akan bersiar-siar di taman "
          "bersama kawan-kawan.",
    "sw": "Hali ya hewa ni nzuri leo. Jua linawaka, anga ni la buluu na tunaenda kutembea katika bustani pamoja na "
          "marafiki zetu.",
    "jv": "Hawane dina iki apik banget. Srengenge sumunar, langit biru lan aku arep mlaku-mlaku ing taman karo "
          "kanca-kanca.",
}
LATIN_LEXICONS = ("de", "en", "es", "fr", "id", "it", "jv", "ms", "pt", "sw", "vi")


def _other_languages() -> dict:
    f = resources.files("babelsafe.judges").joinpath("data", "other_languages.yaml")
    return yaml.load(f.read_text("utf-8"), Loader=yaml.BaseLoader)


@pytest.mark.parametrize("lang", sorted(UNKNOWN))
@pytest.mark.parametrize("prior", [None, "es", "en", "pt"])
def test_a_language_without_a_lexicon_is_und(lang, prior):
    assert RefusalJudge().classify(UNKNOWN[lang], PROMPT, prior).extra["answer_language"] == "und"


@pytest.mark.parametrize("lang", sorted(KNOWN))
def test_the_lexicon_languages_keep_their_name(lang):
    assert RefusalJudge().classify(KNOWN[lang], PROMPT, lang).extra["answer_language"] == lang


def test_one_name_with_a_foreign_letter_does_not_make_english_und():
    text = ("Antonín Dvořák was a Czech composer. His New World Symphony is one of the most loved pieces of "
            "music in the world and it is often played.")
    assert RefusalJudge().classify(text, "Who was Dvořák?", "en").extra["answer_language"] == "en"


@pytest.mark.parametrize("lang", sorted(UNKNOWN))
def test_only_the_reported_language_changes(lang):
    """The vote (the lexicons searched) is the same as without the rule; the label comes from it."""
    text = UNKNOWN[lang]
    head = normalize(text[:400])
    vote, _, sure = language_vote(text[:100], None, head[:100], None)
    _, ev = extract(text, None, None)
    assert ev["language"] == vote
    assert ev["reported_language"] == reported_language(vote, sure, head, None) == "und"


def test_the_letters_are_written_by_no_latin_lexicon_language():
    letters = set(normalize(_other_languages()["letters"]))
    for code in LATIN_LEXICONS:
        raw = _raw_lexicon(code)
        words = " ".join(str(w) for key in ("stopwords", "neighbour_words") for w in raw.get(key) or ())
        assert not letters & set(normalize(words)), code
    assert not letters & set(normalize(" ".join(KNOWN.values())))
    assert "đ" not in letters and "ă" not in letters  # Vietnamese


def test_the_words_are_no_stop_words_of_a_lexicon_language():
    lexicon_words = {normalize(str(w)) for code in LATIN_LEXICONS
                     for key in ("stopwords", "neighbour_words") for w in _raw_lexicon(code).get(key) or ()}
    for code, words in _other_languages()["words"].items():
        assert code not in LATIN_LEXICONS
        clash = {normalize(w) for w in words} & lexicon_words
        assert not clash, (code, clash)
